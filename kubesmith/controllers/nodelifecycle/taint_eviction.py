"""Taint-based eviction (upstream's taint eviction controller, run inside the node lifecycle
controller as upstream did before it became a controller of its own): pods on a node with
``NoExecute`` taints they do not tolerate are deleted at once; pods tolerating them for
``tolerationSeconds`` are deleted that long after the taint appeared; pods tolerating them
without a limit stay.

Design (one asyncio loop, no locks): node and pod informer handlers update the NoExecute
taints known per node and (re)compute each affected pod's eviction time synchronously, so
no two decisions interleave. An eviction is a loop timer; when it fires the pod key goes to
a work queue whose workers record ``TaintManagerEviction``, set the pod's
``DisruptionTarget`` condition and delete it, retried with backoff on errors. A taint
removed, a toleration changed or the pod gone cancels the timer
(``Cancelling deletion of Pod ...``). A pod already evicted is remembered so it is not
evicted twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer, WorkQueue, object_key, run_workers
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import PODS
from kubesmith.controllers.nodelifecycle.nodes import NO_EXECUTE, node_taints
from kubesmith.controllers.util import is_terminating, meta, now_rfc3339
from kubesmith.scheduler.matching import Taint, Toleration

log = logging.getLogger(__name__)

#: The informer index of pods by ``spec.nodeName``.
NODE_NAME_INDEX = "spec.nodeName"
COMPONENT = "taint-eviction-controller"


def pod_node_index(pod: Obj) -> list[str]:
    """Index function: the node a pod is bound to."""
    node = (pod.get("spec") or {}).get("nodeName")
    return [str(node)] if node else []


def no_execute_taints(node: Obj) -> list[dict[str, Any]]:
    """The node's NoExecute taints."""
    return [t for t in node_taints(node) if t.get("effect") == NO_EXECUTE]


def matching_tolerations(taints: Sequence[dict[str, Any]],
                         tolerations: Sequence[dict[str, Any]]
                         ) -> tuple[bool, list[dict[str, Any]]]:
    """(whether every taint is tolerated, the first toleration tolerating each taint)."""
    compiled = [(Toleration.from_object(t), t) for t in tolerations if isinstance(t, dict)]
    used: list[dict[str, Any]] = []
    for raw_taint in taints:
        taint = Taint.from_object(raw_taint)
        match = next((raw for tol, raw in compiled if tol.tolerates(taint)), None)
        if match is None:
            return False, []
        used.append(match)
    return True, used


def min_toleration_seconds(used: Sequence[dict[str, Any]]) -> float:
    """How long the tolerations allow staying: the smallest ``tolerationSeconds`` (0 when
    one is ≤ 0 or none were needed), -1 for forever."""
    if not used:
        return 0.0
    limits = [t.get("tolerationSeconds") for t in used]
    numbers = [int(v) for v in limits if isinstance(v, int) and not isinstance(v, bool)]
    if not numbers:
        return -1.0
    smallest = min(numbers)
    return 0.0 if smallest <= 0 else float(smallest)


@dataclass(slots=True)
class _Eviction:
    created_at: float
    handle: asyncio.TimerHandle | None
    fired: bool = False


class TaintEvictionManager:
    """Evicts pods from NoExecute-tainted nodes (see the module docstring)."""

    workers = 4

    def __init__(self, client: Client, pods: Informer, nodes: Informer,
                 recorder: EventRecorder) -> None:
        self.client = client
        self.pods = pods
        self.nodes = nodes
        self.recorder = recorder
        self.queue: WorkQueue[str] = WorkQueue()
        self._tainted: dict[str, list[dict[str, Any]]] = {}
        # pod key -> pending eviction, or None once it was evicted.
        self._evictions: dict[str, _Eviction | None] = {}
        pods.add_index(NODE_NAME_INDEX, pod_node_index)
        pods.add_handlers(on_add=lambda p: self._pod_changed(None, p),
                          on_update=self._pod_changed,
                          on_delete=self._pod_deleted)
        nodes.add_handlers(on_add=lambda n: self._node_changed(None, n),
                           on_update=self._node_changed,
                           on_delete=self._node_deleted)

    async def run(self) -> None:
        """Delete pods whose eviction time came, until cancelled."""
        if self.queue.shutting_down:
            self.queue = WorkQueue()
        try:
            await run_workers(self.queue, self.workers, self._evict)
        finally:
            self.queue.shutdown()

    # -- handlers ------------------------------------------------------------------------

    def _node_changed(self, old: Obj | None, new: Obj) -> None:
        taints = no_execute_taints(new)
        if old is not None and no_execute_taints(old) == taints:
            return
        name = str(meta(new).get("name"))
        if taints:
            self._tainted[name] = taints
        else:
            self._tainted.pop(name, None)
        now = time.monotonic()
        for pod in self.pods.by_index(NODE_NAME_INDEX, name):
            key = object_key(pod)
            if not taints:
                self._cancel(key)
            else:
                self._process(key, pod, taints, now)

    def _node_deleted(self, node: Obj) -> None:
        self._tainted.pop(str(meta(node).get("name")), None)

    def _pod_changed(self, old: Obj | None, new: Obj) -> None:
        spec = new.get("spec") or {}
        if old is not None:
            old_spec = old.get("spec") or {}
            if old_spec.get("tolerations") == spec.get("tolerations") and \
                    old_spec.get("nodeName") == spec.get("nodeName"):
                return
        taints = self._tainted.get(str(spec.get("nodeName") or ""))
        if taints:
            self._process(object_key(new), new, taints, time.monotonic())

    def _pod_deleted(self, pod: Obj) -> None:
        key = object_key(pod)
        self._cancel(key, announce=False)
        self._evictions.pop(key, None)

    # -- scheduling ----------------------------------------------------------------------

    def _process(self, key: str, pod: Obj, taints: list[dict[str, Any]], now: float) -> None:
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        all_tolerated, used = matching_tolerations(taints, tolerations)
        if not all_tolerated:
            self._cancel(key)
            self._schedule(key, now, now)
            return
        seconds = min_toleration_seconds(used)
        if seconds < 0:
            self._cancel(key)
            return
        pending = self._evictions.get(key)
        if pending is not None:
            # An eviction counted from an earlier taint keeps its earlier start.
            if pending.created_at + seconds < now + seconds:
                return
            self._cancel(key)
        self._schedule(key, now, now + seconds)

    def _schedule(self, key: str, created_at: float, fire_at: float) -> None:
        if key in self._evictions:
            return  # pending already, or evicted before
        loop = asyncio.get_running_loop()
        delay = max(0.0, fire_at - time.monotonic())
        eviction = _Eviction(created_at, None)
        eviction.handle = loop.call_later(delay, self._fire, key, eviction)
        self._evictions[key] = eviction

    def _fire(self, key: str, eviction: _Eviction) -> None:
        if self._evictions.get(key) is eviction:
            eviction.fired = True
            self.queue.add(key)

    def _cancel(self, key: str, announce: bool = True) -> None:
        pending = self._evictions.get(key)
        if key not in self._evictions:
            return
        if pending is None:
            # Evicted already: forget it so a later taint can evict again.
            del self._evictions[key]
            return
        if pending.handle is not None:
            pending.handle.cancel()
        del self._evictions[key]
        if announce:
            self._event(key, "Cancelling deletion of Pod")

    def _event(self, key: str, what: str) -> None:
        namespace, _, name = key.partition("/")
        ref: Obj = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": namespace}}
        self.recorder.event(ref, "Normal", "TaintManagerEviction", f"{what} {key}")

    # -- eviction ------------------------------------------------------------------------

    async def _evict(self, key: str) -> None:
        pending = self._evictions.get(key)
        if pending is None or not pending.fired:
            return  # cancelled meanwhile
        pod = self.pods.get(key)
        if pod is None or is_terminating(pod):
            self._evictions[key] = None
            return
        self._event(key, "Marking for deletion Pod")
        namespace, _, name = key.partition("/")
        condition = {"type": "DisruptionTarget", "status": "True",
                     "reason": "DeletionByTaintManager",
                     "message": "Taint manager: deleting due to NoExecute taint",
                     "lastTransitionTime": now_rfc3339()}
        try:
            await self.client.patch(PODS, name, {"status": {"conditions": [condition]}},
                                    namespace, patch_type="strategic", subresource="status")
            await self.client.delete(PODS, name, namespace)
        except ApiError as exc:
            if exc.code != 404:
                log.warning("evicting pod %s: %s", key, exc.message)
                raise
        if self._evictions.get(key) is pending:
            self._evictions[key] = None
