"""Pod garbage collection (upstream's ``pod-garbage-collector-controller``).

Every ``gc_check_period`` (20 s) one pass over the pod and node caches:

* **terminated pods** above ``terminated_pod_gc_threshold`` are deleted, evicted ones first,
  then the oldest;
* **terminating pods on out-of-service nodes** (NotReady and tainted
  ``node.kubernetes.io/out-of-service``) are deleted at once;
* **orphaned pods**, bound to a node that does not exist, are deleted once the node has been
  missing for ``quarantine_time`` (40 s) and a fresh GET confirms it is gone — a node that is
  only late in the informer is not mistaken for a deleted one;
* **unscheduled terminating pods** (a deletion timestamp but no node, so no kubelet will
  ever finish them) are deleted.

A pod not yet Succeeded/Failed is first marked Failed through its status (with a
``DisruptionTarget`` condition for orphans), so controllers counting failures see why it
went; the deletion is then forced (grace period 0).

The pass runs as the work queue's single key, re-armed after each pass, so it never runs
twice at once and a failing pass is retried with the queue's backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any, ClassVar

from kubesmith.api.types import Obj
from kubesmith.client import ApiError
from kubesmith.client.rest import NODES, PODS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.util import (
    get_condition,
    is_terminating,
    meta,
    now_rfc3339,
    pod_phase,
)

log = logging.getLogger(__name__)

GC_KEY = "gc"
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"


def is_pod_terminated(pod: Obj) -> bool:
    """Not Pending, Running or Unknown (upstream counts an unset phase as terminated)."""
    return pod_phase(pod) not in ("Pending", "Running", "Unknown")


def is_evicted(pod: Obj) -> bool:
    """Failed with reason Evicted."""
    status = pod.get("status") or {}
    return status.get("phase") == "Failed" and status.get("reason") == "Evicted"


def gc_order_key(pod: Obj) -> tuple[bool, str, str]:
    """Evicted pods first, then by creation time, then by name."""
    return (not is_evicted(pod), str(meta(pod).get("creationTimestamp") or ""),
            str(meta(pod).get("name") or ""))


def _node_ready(node: Obj) -> bool:
    cond = get_condition(node, "Ready")
    return cond is not None and cond.get("status") == "True"


def _out_of_service(node: Obj) -> bool:
    return any(t.get("key") == OUT_OF_SERVICE_TAINT
               for t in (node.get("spec") or {}).get("taints") or ())


class PodGCController(Controller):
    """Deletes terminated, orphaned and stuck terminating pods (see the module docstring)."""

    name = "pod-garbage-collector"
    component = "pod-garbage-collector"
    default_workers = 1

    #: Seconds between passes (upstream's gcCheckPeriod).
    gc_check_period: ClassVar[float] = 20.0
    #: Seconds a node must stay missing before its pods count as orphaned.
    quarantine_time: ClassVar[float] = 40.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.pods = self.informer(PODS)
        self.nodes = self.informer(NODES)
        #: Node name -> when (monotonic) pods were first seen bound to it while it was
        #: missing from the node cache.
        self._missing_since: dict[str, float] = {}

    async def started(self) -> None:
        self.queue.add(GC_KEY)

    async def reconcile(self, key: str) -> None:
        try:
            await self.gc()
        finally:
            self.queue.add_after(GC_KEY, self.gc_check_period)

    async def gc(self) -> None:
        """One pass (see the module docstring)."""
        pods = self.pods.list()
        threshold = self.options.terminated_pod_gc_threshold
        if threshold > 0:
            await self._gc_terminated(pods, threshold)
        await self._gc_terminating_out_of_service(pods)
        await self._gc_orphaned(pods)
        await self._gc_unscheduled_terminating(pods)

    async def _delete_all(self, pods: Iterable[Obj],
                          condition: dict[str, Any] | None = None) -> None:
        results = await asyncio.gather(
            *(self.mark_failed_and_delete(p, condition) for p in pods), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                log.warning("pod GC: %s", result)

    async def _gc_terminated(self, pods: list[Obj], threshold: int) -> None:
        terminated = [p for p in pods if is_pod_terminated(p)]
        excess = len(terminated) - threshold
        if excess <= 0:
            return
        log.info("garbage collecting %d terminated pods", excess)
        terminated.sort(key=gc_order_key)
        await self._delete_all(terminated[:excess])

    async def _gc_terminating_out_of_service(self, pods: list[Obj]) -> None:
        doomed = []
        for pod in pods:
            node_name = (pod.get("spec") or {}).get("nodeName")
            if not is_terminating(pod) or not node_name:
                continue
            node = self.nodes.get(str(node_name))
            if node is not None and not _node_ready(node) and _out_of_service(node):
                doomed.append(pod)
        doomed.sort(key=gc_order_key)
        await self._delete_all(doomed)

    async def _gc_orphaned(self, pods: list[Obj]) -> None:
        now = time.monotonic()
        bound_to_missing: set[str] = set()
        for pod in pods:
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name and self.nodes.get(str(node_name)) is None:
                bound_to_missing.add(str(node_name))
        for name in list(self._missing_since):
            if name not in bound_to_missing:
                del self._missing_since[name]
        deleted_nodes: set[str] = set()
        for name in bound_to_missing:
            since = self._missing_since.setdefault(name, now)
            if now - since < self.quarantine_time:
                continue
            if await self._node_gone(name):
                deleted_nodes.add(name)
                del self._missing_since[name]
        if not deleted_nodes:
            return
        orphans = [p for p in pods if (p.get("spec") or {}).get("nodeName") in deleted_nodes]
        for pod in orphans:
            log.info("found orphaned pod %s/%s assigned to deleted node %s, deleting",
                     meta(pod).get("namespace"), meta(pod).get("name"),
                     (pod.get("spec") or {}).get("nodeName"))
        await self._delete_all(orphans, {"type": "DisruptionTarget", "status": "True",
                                         "reason": "DeletionByPodGC",
                                         "message": "PodGC: node no longer exists"})

    async def _node_gone(self, name: str) -> bool:
        # The cache may lag: only the server can say the node is really gone.
        try:
            await self.client.get(NODES, name)
        except ApiError as exc:
            if exc.code == 404:
                return True
            log.warning("pod GC: cannot get node %s: %s", name, exc.message)
        return False

    async def _gc_unscheduled_terminating(self, pods: list[Obj]) -> None:
        await self._delete_all(p for p in pods
                               if is_terminating(p) and not (p.get("spec") or {}).get("nodeName"))

    async def mark_failed_and_delete(self, pod: Obj, condition: dict[str, Any] | None = None
                                     ) -> None:
        """Move an unfinished pod to Failed (with ``condition``), then force-delete it."""
        name, namespace = meta(pod)["name"], meta(pod)["namespace"]
        try:
            if pod_phase(pod) not in ("Succeeded", "Failed"):
                status: dict[str, Any] = {"phase": "Failed"}
                if condition is not None:
                    status["conditions"] = [{**condition, "lastTransitionTime": now_rfc3339()}]
                await self.client.patch(
                    PODS, name, {"metadata": {"uid": meta(pod).get("uid")}, "status": status},
                    namespace, patch_type="strategic", subresource="status")
            await self.client.delete(PODS, name, namespace, grace_period_seconds=0)
        except ApiError as exc:
            if exc.code != 404:
                raise
