"""The root CA publisher (upstream's root-ca-cert-publisher): the ConfigMap
``kube-root-ca.crt`` with the cluster CA under ``ca.crt`` in every active namespace, so
pods can verify the API server (projected ServiceAccount token volumes mount it).

Namespace events and changes to (or deletion of) a ``kube-root-ca.crt`` ConfigMap enqueue
the namespace; a worker creates the ConfigMap when missing and rewrites it when its data or
description annotation was changed. Terminating namespaces are left alone.
"""

from __future__ import annotations

import copy
import logging

from kubesmith.api.types import Obj
from kubesmith.client import ApiError
from kubesmith.client.rest import CONFIGMAPS, NAMESPACES
from kubesmith.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)

CONFIGMAP_NAME = "kube-root-ca.crt"
DATA_KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters.")


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def is_active(ns: Obj) -> bool:
    """Not being deleted (a terminating namespace refuses new content anyway)."""
    return not (ns.get("metadata") or {}).get("deletionTimestamp") and \
        (ns.get("status") or {}).get("phase", "Active") == "Active"


def wanted_configmap(namespace: str, ca: str) -> Obj:
    """The ConfigMap every namespace should have."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP_NAME, "namespace": namespace,
                         "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
            "data": {DATA_KEY: ca}}


def corrected(cm: Obj, ca: str) -> Obj | None:
    """``cm`` with the CA and description restored, or None when it is already right (a
    non-empty description of someone else's wording is kept, as upstream)."""
    annotations = (cm.get("metadata") or {}).get("annotations") or {}
    if cm.get("data") == {DATA_KEY: ca} and annotations.get(DESCRIPTION_ANNOTATION):
        return None
    fixed = copy.deepcopy(cm)
    fixed["data"] = {DATA_KEY: ca}
    fixed.pop("binaryData", None)
    meta = fixed.setdefault("metadata", {})
    meta["annotations"] = {**(meta.get("annotations") or {}),
                           DESCRIPTION_ANNOTATION: DESCRIPTION}
    return fixed


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"
    component = "root-ca-cert-publisher"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.ca = ctx.ca_pem.decode()
        self.namespaces = self.informer(NAMESPACES)
        self.configmaps = self.informer(CONFIGMAPS)
        self.namespaces.add_handlers(on_add=self.enqueue,
                                     on_update=lambda _old, new: self._namespace_updated(new))
        self.configmaps.add_handlers(on_update=lambda _old, new: self._configmap_changed(new),
                                     on_delete=self._configmap_changed)

    def _namespace_updated(self, ns: Obj) -> None:
        if is_active(ns):
            self.enqueue(ns)

    def _configmap_changed(self, cm: Obj) -> None:
        meta = cm.get("metadata") or {}
        if meta.get("name") == CONFIGMAP_NAME and meta.get("namespace"):
            self.queue.add(str(meta["namespace"]))

    async def started(self) -> None:
        if not self.ca:
            log.warning("root CA publisher: no cluster CA known; nothing to publish")

    async def reconcile(self, key: str) -> None:
        ns = self.namespaces.get(key)
        if ns is None or not is_active(ns) or not self.ca:
            return
        cm = self.configmaps.get(f"{key}/{CONFIGMAP_NAME}")
        if cm is None:
            try:
                await self.client.create(CONFIGMAPS, wanted_configmap(key, self.ca), key)
            except ApiError as exc:
                # 404/403: the namespace is gone or terminating; 409: the cache is behind
                # and the update event that follows brings it back here.
                if exc.code not in (403, 404, 409):
                    raise
            return
        fixed = corrected(cm, self.ca)
        if fixed is not None:
            # a PUT carrying the cached resourceVersion: a conflict retries with backoff
            await self.client.replace(CONFIGMAPS, fixed, key, name=_name(fixed))
