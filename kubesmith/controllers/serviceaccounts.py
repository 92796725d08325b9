"""The ``default`` ServiceAccount in every active namespace (upstream's serviceaccounts
controller).

Informers on Namespaces and ServiceAccounts only enqueue the namespace name; a worker
re-reads the caches and creates the ServiceAccount if it is missing (also after someone
deleted it). A terminating namespace is left alone.
"""

from __future__ import annotations

from typing import Any

from kubesmith.client import ApiError
from kubesmith.client.rest import NAMESPACES, SERVICEACCOUNTS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.util import is_namespace_terminating

DEFAULT_SERVICEACCOUNT = "default"


class ServiceAccountsController(Controller):
    name = "service-account-controller"
    component = "serviceaccount-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = self.informer(NAMESPACES)
        self.serviceaccounts = self.informer(SERVICEACCOUNTS)
        self.namespaces.add_handlers(on_add=self.enqueue,
                                     on_update=lambda _old, new: self.enqueue(new))
        self.serviceaccounts.add_handlers(on_delete=self._enqueue_namespace)

    def _enqueue_namespace(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("name") == DEFAULT_SERVICEACCOUNT and meta.get("namespace"):
            self.queue.add(meta["namespace"])

    async def reconcile(self, key: str) -> None:
        ns = self.namespaces.get(key)
        if ns is None or (ns.get("metadata") or {}).get("deletionTimestamp") or \
                (ns.get("status") or {}).get("phase") == "Terminating":
            return
        if self.serviceaccounts.get(f"{key}/{DEFAULT_SERVICEACCOUNT}") is not None:
            return
        try:
            await self.client.create(SERVICEACCOUNTS, {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": DEFAULT_SERVICEACCOUNT, "namespace": key}}, key)
        except ApiError as exc:
            # Someone (or our previous attempt) created it first, or the namespace went away
            # or began terminating meanwhile: nothing to do. Any other refusal (e.g. our
            # role binding is missing) is retried with backoff.
            if exc.code in (409, 404) or (exc.code == 403 and is_namespace_terminating(exc)):
                return
            raise
