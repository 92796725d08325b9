"""The ``default`` ServiceAccount in every active namespace (upstream's serviceaccounts
controller).

Level-triggered like every controller here: informers on Namespaces and ServiceAccounts
only enqueue the namespace name; a worker re-reads the informer caches and creates the
ServiceAccount if it is missing (also after someone deleted it). A terminating namespace is
left alone. It talks to the API server only through the client, with the
controller-manager's own identity (whose bootstrap role may create ServiceAccounts).

The ``kube-root-ca.crt`` ConfigMap (upstream's root-ca-cert-publisher) needs that
controller's own ServiceAccount credentials, since the controller-manager role may not
create ConfigMaps; it comes with per-controller identities.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kubesmith.client import ApiError, Client, Informer, WorkQueue, run_workers
from kubesmith.client.rest import NAMESPACES, SERVICEACCOUNTS

log = logging.getLogger(__name__)

DEFAULT_SERVICEACCOUNT = "default"


class ServiceAccountsController:
    def __init__(self, client: Client, workers: int = 2) -> None:
        self.client = client
        self.workers = workers
        self.queue: WorkQueue[str] = WorkQueue()
        self.namespaces = Informer(client, NAMESPACES)
        self.serviceaccounts = Informer(client, SERVICEACCOUNTS,
                                        field_selector=f"metadata.name={DEFAULT_SERVICEACCOUNT}")
        self.namespaces.add_handlers(on_add=self._enqueue_namespace,
                                     on_update=lambda _old, new: self._enqueue_namespace(new))
        self.serviceaccounts.add_handlers(on_delete=self._enqueue_owner)

    def _enqueue_namespace(self, ns: dict[str, Any]) -> None:
        self.queue.add(ns["metadata"]["name"])

    def _enqueue_owner(self, obj: dict[str, Any]) -> None:
        namespace = obj.get("metadata", {}).get("namespace")
        if namespace:
            self.queue.add(namespace)

    async def run(self) -> None:
        for informer in (self.namespaces, self.serviceaccounts):
            informer.start()
        try:
            for informer in (self.namespaces, self.serviceaccounts):
                await informer.wait_synced()
            await run_workers(self.queue, self.workers, self.reconcile)
        finally:
            self.queue.shutdown()
            for informer in (self.namespaces, self.serviceaccounts):
                await informer.stop()

    async def reconcile(self, namespace: str) -> None:
        ns = self.namespaces.get(namespace)
        if ns is None or ns.get("metadata", {}).get("deletionTimestamp") or \
                (ns.get("status") or {}).get("phase") == "Terminating":
            return
        if self.serviceaccounts.get(f"{namespace}/{DEFAULT_SERVICEACCOUNT}") is None:
            await self._create(SERVICEACCOUNTS, namespace, {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": DEFAULT_SERVICEACCOUNT, "namespace": namespace}})

    async def _create(self, resource: Any, namespace: str, body: dict[str, Any]) -> None:
        try:
            await self.client.create(resource, body, namespace)
        except ApiError as exc:
            # Someone (or our previous attempt) created it first; a terminating namespace
            # refuses new content. Both end this reconcile.
            if exc.code not in (409, 403, 404):
                raise


async def run_serviceaccounts_controller(kubeconfig: str) -> None:
    """Run the controller until cancelled (with its own client)."""
    client = Client.from_kubeconfig(kubeconfig)
    try:
        await ServiceAccountsController(client).run()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(client.close())
