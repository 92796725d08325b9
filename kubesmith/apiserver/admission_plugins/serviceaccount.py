"""ServiceAccount admission, as upstream's ``plugin/pkg/admission/serviceaccount``.

On pod creation (not mirror pods):

- ``spec.serviceAccountName`` defaults to ``default`` (``spec.serviceAccount`` mirrors it);
- the service account must exist, else 403 ``pods "x" is forbidden: error looking up
  service account ns/sa: serviceaccount "sa" not found``;
- unless ``automountServiceAccountToken`` is false on the pod (or, when the pod leaves it
  unset, on the service account), a projected ``kube-api-access-xxxxx`` volume (bound
  token, ``kube-root-ca.crt`` and the namespace) is added and mounted read-only at
  ``/var/run/secrets/kubernetes.io/serviceaccount`` in every container that has no mount
  there yet;
- a pod without ``imagePullSecrets`` gets the service account's.

Mirror pods may reference neither service accounts, secrets nor token projections.
The ``kubernetes.io/enforce-mountable-secrets`` restriction is not implemented.
"""

from __future__ import annotations

import asyncio
import secrets as _random
from typing import Any

from kubesmith.api import errors
from kubesmith.api.resources import Resources
from kubesmith.api.types import Obj
from kubesmith.apiserver.admission import AdmissionRequest

DEFAULT_SERVICE_ACCOUNT = "default"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
TOKEN_VOLUME_PREFIX = "kube-api-access-"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_EXPIRATION_SECONDS = 3607
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
# Upstream's utilrand alphabet: no vowels, no confusable digits.
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(n: int = 5) -> str:
    return "".join(_random.choice(_ALPHANUMS) for _ in range(n))


def token_volume(name: str) -> Obj:
    """The projected volume upstream injects (defaultMode 0644)."""
    return {
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                                         "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIGMAP,
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [
                    {"path": "namespace",
                     "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": 0o644,
        },
    }


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _maps(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _is_mirror(obj: Obj) -> bool:
    annotations = _d(_d(obj.get("metadata")).get("annotations"))
    return MIRROR_POD_ANNOTATION in annotations


def _applies(req: AdmissionRequest, obj: Obj | None) -> bool:
    return (obj is not None and req.rt.group == "" and req.rt.plural == "pods"
            and req.operation == "CREATE" and req.subresource == "")


def should_automount(sa: Obj, pod: Obj) -> bool:
    pod_value = _d(pod.get("spec")).get("automountServiceAccountToken")
    if isinstance(pod_value, bool):
        return pod_value
    sa_value = sa.get("automountServiceAccountToken")
    if isinstance(sa_value, bool):
        return sa_value
    return True


def mount_token(spec: dict[str, Any], suffix: str | None = None) -> None:
    """Add the token volume and its mounts (upstream's ``mountServiceAccountToken``)."""
    volumes = spec.get("volumes")
    volume_name = ""
    for v in _maps(volumes):
        name = v.get("name")
        if isinstance(name, str) and name.startswith(TOKEN_VOLUME_PREFIX):
            volume_name = name
            break
    has_volume = bool(volume_name)
    if not volume_name:
        volume_name = TOKEN_VOLUME_PREFIX + (suffix or random_suffix())
    needs_volume = False
    for key in ("initContainers", "containers"):
        for ctr in _maps(spec.get(key)):
            mounts = ctr.get("volumeMounts")
            if any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in _maps(mounts)):
                continue
            if not isinstance(mounts, list):
                mounts = ctr["volumeMounts"] = []
            mounts.append({"name": volume_name, "readOnly": True,
                           "mountPath": TOKEN_MOUNT_PATH})
            needs_volume = True
    if needs_volume and not has_volume:
        if not isinstance(volumes, list):
            volumes = spec["volumes"] = []
        volumes.append(token_volume(volume_name))


def _references_secrets(spec: dict[str, Any]) -> bool:
    if _maps(spec.get("imagePullSecrets")):
        return True
    for v in _maps(spec.get("volumes")):
        if _d(v.get("secret")).get("secretName"):
            return True
        for kind in ("azureFile", "cephfs", "cinder", "flexVolume", "rbd", "iscsi",
                     "scaleIO", "storageos", "csi"):
            src = _d(v.get(kind))
            if src.get("secretName") or _d(src.get("secretRef")).get("name") or \
                    _d(src.get("nodePublishSecretRef")).get("name"):
                return True
        for source in _maps(_d(v.get("projected")).get("sources")):
            if _d(source.get("secret")).get("name"):
                return True
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for ctr in _maps(spec.get(key)):
            for env_from in _maps(ctr.get("envFrom")):
                if _d(env_from.get("secretRef")).get("name"):
                    return True
            for env in _maps(ctr.get("env")):
                if _d(_d(env.get("valueFrom")).get("secretKeyRef")).get("name"):
                    return True
    return False


DEFAULT_SA_WAIT = 2.0


class ServiceAccount:
    name = "ServiceAccount"

    def __init__(self, resources: Resources, *, mount_token: bool = True) -> None:
        self.resources = resources
        self.mount_token = mount_token

    async def _service_account(self, req: AdmissionRequest, pod: Obj, sa_name: str) -> Obj:
        store = self.resources.for_kind("", "ServiceAccount")
        cached = None
        if store is not None:
            key = store.key(req.namespace, sa_name)
            cached = store.cache.get(key)
            if cached is None:
                # The cache may be a moment behind a service account created just now.
                await store.cache.wait_consistent()
                cached = store.cache.get(key)
            deadline = asyncio.get_running_loop().time() + DEFAULT_SA_WAIT
            while cached is None and sa_name == "default" and \
                    asyncio.get_running_loop().time() < deadline:
                # A namespace created a moment ago gets its "default" ServiceAccount from
                # the ServiceAccounts controller within milliseconds; wait briefly rather
                # than refuse the first pod (upstream can refuse it in that window).
                await asyncio.sleep(0.02)
                cached = store.cache.get(key)
        if cached is None:
            raise errors.forbidden_operation(
                "pods", _d(pod.get("metadata")).get("name", ""),
                f"error looking up service account {req.namespace}/{sa_name}: "
                f'serviceaccount "{sa_name}" not found')
        return cached.obj

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if obj is None or not _applies(req, obj) or _is_mirror(obj):
            return
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        sa_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or \
            DEFAULT_SERVICE_ACCOUNT
        spec["serviceAccountName"] = sa_name
        spec["serviceAccount"] = sa_name
        sa = await self._service_account(req, obj, sa_name)
        if self.mount_token and should_automount(sa, obj):
            mount_token(spec)
        if not _maps(spec.get("imagePullSecrets")):
            pull = [{"name": s.get("name", "")} for s in _maps(sa.get("imagePullSecrets"))]
            if pull:
                spec["imagePullSecrets"] = pull

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if obj is None or not _applies(req, obj):
            return
        spec = _d(obj.get("spec"))
        name = _d(obj.get("metadata")).get("name", "")
        if _is_mirror(obj):
            if spec.get("serviceAccountName"):
                raise errors.forbidden_operation(
                    "pods", name, "a mirror pod may not reference service accounts")
            if _references_secrets(spec):
                raise errors.forbidden_operation(
                    "pods", name, "a mirror pod may not reference secrets")
            for v in _maps(spec.get("volumes")):
                for source in _maps(_d(v.get("projected")).get("sources")):
                    if "serviceAccountToken" in source:
                        raise errors.forbidden_operation(
                            "pods", name,
                            "a mirror pod may not use ServiceAccountToken volume projections")
            return
        sa_name = spec.get("serviceAccountName")
        if not sa_name:
            raise errors.forbidden_operation(
                "pods", name, f"no service account specified for pod {req.namespace}/{name}")
        await self._service_account(req, obj, str(sa_name))
