"""Objects the controller integration tests build by hand: owners and dependents with
owner references (garbage collector, namespace deletion, disruption), custom resource
definitions, and pods and Services the way a kubelet and a user would make them (Endpoints,
EndpointSlices, node lifecycle)."""

from __future__ import annotations

import contextlib
from typing import Any

from kubesmith.client import ApiError, Client, Resource
from kubesmith.client.rest import PODS
from kubesmith.controllers.util import now_rfc3339
from tests.integration.controllers.helpers import until

CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
#: The node the Endpoints tests bind their pods to.
NODE = "ep-node-1"


# ---- owners and dependents ----------------------------------------------------------------

def owner_ref(owner: dict[str, Any], *, block: bool | None = None,
              controller: bool | None = None) -> dict[str, Any]:
    """An ownerReference to ``owner`` (``blockOwnerDeletion``/``controller`` only when
    given)."""
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
           "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    if block is not None:
        ref["blockOwnerDeletion"] = block
    if controller is not None:
        ref["controller"] = controller
    return ref


def configmap(name: str, *owners: dict[str, Any], finalizers: list[str] | None = None
              ) -> dict[str, Any]:
    """A ConfigMap owned by ``owners``."""
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = list(owners)
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": name}}


def pod(name: str, *owners: dict[str, Any], labels: dict[str, str] | None = None
        ) -> dict[str, Any]:
    """A pod owned by ``owners`` (never scheduled: no node runs it)."""
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if owners:
        meta["ownerReferences"] = list(owners)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}


async def make_crd(client: Client, group: str, plural: str, kind: str,
                   scope: str = "Namespaced", subresources: dict[str, Any] | None = None
                   ) -> None:
    """A CRD with one served version v1 (any fields), waited for until it is served."""
    version: dict[str, Any] = {
        "name": "v1", "served": True, "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}}}
    if subresources:
        version["subresources"] = subresources
    await client.create(CRDS, {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": scope,
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
                 "versions": [version]}})
    resource = Resource(group, "v1", plural, scope == "Namespaced")

    async def served() -> bool:
        await client.request("GET", resource.path())
        return True

    await until(served, f"{plural}.{group} to be served")


async def delete_crd(client: Client, name: str) -> None:
    """Delete a CRD (already gone is fine)."""
    with contextlib.suppress(ApiError):
        await client.delete(CRDS, name)


# ---- pods and Services --------------------------------------------------------------------

def pod_manifest(name: str, labels: dict[str, str], *, node: str = NODE,
                 ports: dict[str, int] | None = None, hostname: str | None = None,
                 subdomain: str | None = None) -> dict[str, Any]:
    """A pod bound to ``node`` with named container ports."""
    spec: dict[str, Any] = {
        "nodeName": node,
        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                        "ports": [{"name": n, "containerPort": p}
                                  for n, p in (ports or {}).items()]}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels}, "spec": spec}


async def set_pod_status(client: Client, namespace: str, name: str, ip: str | None,
                         ready: bool) -> None:
    """What a kubelet reports: Running (with an IP when given), Ready or not."""
    status: dict[str, Any] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False",
         "lastTransitionTime": now_rfc3339()}]}
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    await client.patch(PODS, name, {"status": status}, namespace, subresource="status")


async def make_pod(client: Client, namespace: str, name: str, labels: dict[str, str],
                   ip: str | None, ready: bool, **kwargs: Any) -> None:
    """A pod from :func:`pod_manifest` with the status :func:`set_pod_status` reports."""
    await client.create(PODS, pod_manifest(name, labels, **kwargs), namespace)
    await set_pod_status(client, namespace, name, ip, ready)


def service_manifest(name: str, selector: dict[str, str] | None,
                     ports: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A Service (without a selector when ``selector`` is None)."""
    body: dict[str, Any] = {"ports": ports, **spec}
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": {"team": "blue"}}, "spec": body}
