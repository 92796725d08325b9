"""VolumeBinding: a pod's PersistentVolumeClaims constrain and follow its node.

* A bound claim whose PersistentVolume has required node affinity (a local volume) rules
  out the nodes outside it.
* An unbound claim of a ``WaitForFirstConsumer`` StorageClass is decided with the pod: on
  each node it can bind an available matching PersistentVolume reachable from there, or be
  provisioned there if the class has a provisioner and its ``allowedTopologies`` admit the
  node. After the node is picked, PreBind records the decision in the API — the
  PersistentVolume's ``claimRef`` for a static match, the claim's
  ``volume.kubernetes.io/selected-node`` annotation for provisioning — and waits, like
  upstream, until the PersistentVolume controller has bound every claim (or gives up after
  ``bind_timeout``) before the pod itself is bound.
* An unbound claim of an ``Immediate`` class must be bound by the PV controller first: the
  pod waits (``pod has unbound immediate PersistentVolumeClaims``).

Chosen PersistentVolumes are held in an in-memory reservation from Reserve until the
binding cycle ends, so the next pod does not pick the same volume before the watch shows
the ``claimRef``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubesmith.api.selectors import label_selector_from_object
from kubesmith.api.types import Obj
from kubesmith.client.rest import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, ApiError
from kubesmith.scheduler.framework import (
    SKIP,
    CycleState,
    FilterPlugin,
    PreBindPlugin,
    PreFilterPlugin,
    PreFilterResult,
    ReservePlugin,
    Status,
    error,
    unresolvable,
)
from kubesmith.scheduler.handle import Handle
from kubesmith.scheduler.matching import NodeSelector, NodeSelectorTerm
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo
from kubesmith.scheduler.resources import value

ERR_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
ERR_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node"
BOUND_BY_CONTROLLER_ANNOTATION = "pv.kubernetes.io/bound-by-controller"
NO_PROVISIONER = "kubernetes.io/no-provisioner"

_STATE_KEY = "PreFilterVolumeBinding"


def _pv_node_selector(pv: Obj) -> NodeSelector | None:
    required = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required")
    return NodeSelector.from_object(required) if required is not None else None


def _storage_request(pvc: Obj) -> int:
    requests = ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
    return value(requests.get("storage"))


@dataclass(slots=True)
class _Decision:
    """What a node needs done for the pod's delayed claims."""

    bind: list[tuple[Obj, Obj]] = field(default_factory=list)  # (claim, volume)
    provision: list[Obj] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    bound: list[tuple[str, Obj | None]]  # (claim name, its volume if it exists)
    delayed: list[Obj]
    decisions: dict[str, _Decision] = field(default_factory=dict)
    reserved: _Decision | None = None


class VolumeBinding(PreFilterPlugin, FilterPlugin, ReservePlugin, PreBindPlugin):
    """Upstream's VolumeBinding plugin (see the module docstring)."""

    name = "VolumeBinding"

    def __init__(self, handle: Handle, bind_timeout: float = 600.0,
                 poll_interval: float = 1.0) -> None:
        self.handle = handle
        self.bind_timeout = bind_timeout
        self.poll_interval = poll_interval
        #: PV name -> claim key, for volumes chosen but not yet visibly claimed.
        self.assumed_volumes: dict[str, str] = {}

    # -- filtering ---------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
                   ) -> PreFilterResult | Status | None:
        """Sort the pod's claims into bound and delayed; reject missing, deleting and
        unbound immediate claims."""
        if not pod.volume_claims:
            return SKIP
        listers = self.handle.listers
        bound: list[tuple[str, Obj | None]] = []
        delayed: list[Obj] = []
        immediate_unbound = False
        for claim in pod.volume_claims:
            pvc = listers.pvcs.get(f"{pod.namespace}/{claim}")
            if pvc is None:
                return unresolvable(f'persistentvolumeclaim "{claim}" not found')
            if (pvc.get("metadata") or {}).get("deletionTimestamp"):
                return unresolvable(f'persistentvolumeclaim "{claim}" is being deleted')
            volume_name = (pvc.get("spec") or {}).get("volumeName")
            if volume_name:
                bound.append((claim, listers.pvs.get(str(volume_name))))
                continue
            if self._binding_mode(pvc) == "WaitForFirstConsumer":
                delayed.append(pvc)
            else:
                immediate_unbound = True
        if immediate_unbound:
            return unresolvable(ERR_UNBOUND_IMMEDIATE)
        state.data[_STATE_KEY] = _State(bound, delayed)
        return None

    def _storage_class(self, pvc: Obj) -> Obj | None:
        name = (pvc.get("spec") or {}).get("storageClassName")
        return self.handle.listers.storage_classes.get(str(name)) if name else None

    def _binding_mode(self, pvc: Obj) -> str:
        sc = self._storage_class(pvc)
        return str((sc or {}).get("volumeBindingMode") or "Immediate")

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Bound claims' volumes must reach the node; delayed claims need a volume or a
        provisioner for it."""
        s: _State | None = state.data.get(_STATE_KEY)
        if s is None:
            return None
        for _claim, pv in s.bound:
            if pv is None:
                return unresolvable(ERR_PV_NOT_EXIST)
            selector = _pv_node_selector(pv)
            if selector is not None and not selector.matches(node.labels, node.name):
                return unresolvable(ERR_NODE_CONFLICT)
        if not s.delayed:
            return None
        decision = _Decision()
        taken: set[str] = set()
        for pvc in s.delayed:
            pv = self._find_volume(pvc, node, taken)
            if pv is not None:
                taken.add(str(pv["metadata"]["name"]))
                decision.bind.append((pvc, pv))
            elif self._can_provision(pvc, node):
                decision.provision.append(pvc)
            else:
                return unresolvable(ERR_BIND_CONFLICT)
        s.decisions[node.name] = decision
        return None

    def _find_volume(self, pvc: Obj, node: NodeInfo, taken: set[str]) -> Obj | None:
        """The smallest available PersistentVolume that satisfies the claim from ``node``
        (upstream ``FindMatchingVolume``)."""
        spec = pvc.get("spec") or {}
        meta = pvc.get("metadata") or {}
        claim_key = f"{meta.get('namespace')}/{meta.get('name')}"
        wanted_class = str(spec.get("storageClassName") or "")
        wanted_modes = set(spec.get("accessModes") or ())
        wanted_mode = spec.get("volumeMode") or "Filesystem"
        wanted_size = _storage_request(pvc)
        selector = label_selector_from_object(spec["selector"]) if spec.get("selector") \
            else None
        best: Obj | None = None
        best_size = 0
        for pv in self.handle.listers.pvs.list():
            pv_meta = pv.get("metadata") or {}
            pv_spec = pv.get("spec") or {}
            name = str(pv_meta.get("name") or "")
            if name in taken or pv_meta.get("deletionTimestamp"):
                continue
            claim_ref = pv_spec.get("claimRef")
            if claim_ref and (claim_ref.get("namespace"), claim_ref.get("name")) != \
                    (meta.get("namespace"), meta.get("name")):
                continue
            assumed_for = self.assumed_volumes.get(name)
            if assumed_for is not None and assumed_for != claim_key:
                continue
            if str(pv_spec.get("storageClassName") or "") != wanted_class:
                continue
            if (pv_spec.get("volumeMode") or "Filesystem") != wanted_mode:
                continue
            if not wanted_modes <= set(pv_spec.get("accessModes") or ()):
                continue
            size = value((pv_spec.get("capacity") or {}).get("storage"))
            if size < wanted_size:
                continue
            if selector is not None and not selector.matches(pv_meta.get("labels") or {}):
                continue
            node_selector = _pv_node_selector(pv)
            if node_selector is not None and not node_selector.matches(node.labels, node.name):
                continue
            if claim_ref:
                return pv  # pre-bound to this claim: it must be this one
            if best is None or size < best_size:
                best, best_size = pv, size
        return best

    def _can_provision(self, pvc: Obj, node: NodeInfo) -> bool:
        sc = self._storage_class(pvc)
        if sc is None or str(sc.get("provisioner") or NO_PROVISIONER) == NO_PROVISIONER:
            return False
        topologies: Sequence[Mapping[str, Any]] = sc.get("allowedTopologies") or ()
        if not topologies:
            return True
        for term in topologies:
            exprs = [{"key": e.get("key"), "operator": "In", "values": e.get("values")}
                     for e in term.get("matchLabelExpressions") or ()]
            if NodeSelectorTerm.from_object({"matchExpressions": exprs}).matches(
                    node.labels, node.fields):
                return True
        return False

    # -- reserve and bind --------------------------------------------------------------

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Hold the chosen volumes for this pod."""
        s: _State | None = state.data.get(_STATE_KEY)
        if s is None or not s.delayed:
            return None
        decision = s.decisions.get(node_name)
        if decision is None:
            return error(f"no volume decision for node {node_name}")
        for pvc, pv in decision.bind:
            meta = pvc["metadata"]
            self.assumed_volumes[str(pv["metadata"]["name"])] = \
                f"{meta.get('namespace')}/{meta.get('name')}"
        s.reserved = decision
        return None

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Release the held volumes."""
        s: _State | None = state.data.get(_STATE_KEY)
        if s is None or s.reserved is None:
            return
        for _pvc, pv in s.reserved.bind:
            self.assumed_volumes.pop(str(pv["metadata"]["name"]), None)
        s.reserved = None

    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str
                       ) -> Status | None:
        """Write the decisions, then wait until every claim of the pod is bound."""
        s: _State | None = state.data.get(_STATE_KEY)
        if s is None or s.reserved is None:
            return None
        client = self.handle.client
        if client is None:
            return error("no API client to bind volumes with")
        decision = s.reserved
        try:
            for pvc, pv in decision.bind:
                meta = pvc["metadata"]
                await client.patch(PERSISTENTVOLUMES, str(pv["metadata"]["name"]), {
                    "metadata": {"annotations": {BOUND_BY_CONTROLLER_ANNOTATION: "yes"}},
                    "spec": {"claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                          "namespace": meta.get("namespace"),
                                          "name": meta.get("name"), "uid": meta.get("uid"),
                                          "resourceVersion": meta.get("resourceVersion")}}})
            for pvc in decision.provision:
                meta = pvc["metadata"]
                await client.patch(PERSISTENTVOLUMECLAIMS, str(meta["name"]), {
                    "metadata": {"annotations": {SELECTED_NODE_ANNOTATION: node_name}}},
                    str(meta["namespace"]))
        except ApiError as exc:
            return error(f"binding volumes: {exc.message}")
        claims = [str((p.get("metadata") or {}).get("name")) for p in s.delayed]
        status = await self._wait_bound(pod.namespace, claims)
        if status is None:
            # Bound: the volumes' claimRefs are visible now; the hold has done its job.
            self.unreserve(state, pod, node_name)
        return status

    async def _wait_bound(self, namespace: str, claims: list[str]) -> Status | None:
        deadline = time.monotonic() + self.bind_timeout
        pvcs = self.handle.listers.pvcs
        while True:
            pending = []
            for name in claims:
                pvc = pvcs.get(f"{namespace}/{name}") or {}
                if (pvc.get("status") or {}).get("phase") == "Bound" and \
                        (pvc.get("spec") or {}).get("volumeName"):
                    continue
                annotations = (pvc.get("metadata") or {}).get("annotations") or {}
                if not (pvc.get("spec") or {}).get("volumeName") and \
                        self._binding_mode(pvc) == "WaitForFirstConsumer" and \
                        SELECTED_NODE_ANNOTATION not in annotations and \
                        not any(pv_claim == f"{namespace}/{name}"
                                for pv_claim in self.assumed_volumes.values()):
                    # The provisioner gave up and asked for a new decision.
                    return error(f"binding volumes: claim {name} was rescheduled")
                pending.append(name)
            if not pending:
                return None
            if time.monotonic() >= deadline:
                return error("binding volumes: timed out waiting for the condition")
            await asyncio.sleep(self.poll_interval)
