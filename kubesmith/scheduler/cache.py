"""The scheduler's cache of nodes and the pods on them, with kube-scheduler's *assume*
protocol.

Design:

* **Incremental.** Informer events call :meth:`SchedulerCache.add_node`,
  :meth:`~SchedulerCache.add_pod` and friends; each adjusts one :class:`NodeInfo`. No
  decision ever rescans the cluster to learn what a node has left.
* **Assume.** When a scheduling cycle picks a node, the pod is *assumed* there at once
  (:meth:`assume_pod`), so the next cycle — which starts before the binding request has
  even been sent — already sees the node's resources as taken. When the watch later
  delivers the bound pod, the assumed entry is confirmed (:meth:`add_pod`); if binding
  fails, :meth:`forget_pod` takes it back. Assumed pods never expire (upstream's default
  since the TTL was dropped): the watch or a failed bind always resolves them.
* **No snapshot.** Everything runs on one event loop and a scheduling cycle's filter and
  score phases contain no ``await``, so the live cache *is* a consistent snapshot for the
  whole decision; upstream copies NodeInfos per cycle only because its informers run on
  other goroutines.
* **Zone-interleaved node order** (upstream's NodeTree). :attr:`SchedulerCache.node_list`
  takes one node of every zone in turn (zones in the order they first appeared, nodes in
  the order they joined their zone), so the slice a cycle evaluates under
  percentageOfNodesToScore spans the zones instead of being the first zone's nodes. The
  list is rebuilt lazily after a node joins, leaves or changes zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubesmith.api.types import Obj
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo

_ZONE_LABELS = ("failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/zone")
_REGION_LABELS = ("failure-domain.beta.kubernetes.io/region", "topology.kubernetes.io/region")


def _first_label(labels: Mapping[str, str], keys: tuple[str, str]) -> str:
    # The deprecated beta label wins when both are present, as upstream reads them.
    beta, ga = keys
    return labels[beta] if beta in labels else labels.get(ga, "")


def zone_key(labels: Mapping[str, str]) -> str:
    """The node's failure zone as upstream keys it (region and zone; "" for neither)."""
    zone = _first_label(labels, _ZONE_LABELS)
    region = _first_label(labels, _REGION_LABELS)
    if not zone and not region:
        return ""
    return f"{region}:\x00:{zone}"


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    node_name: str
    assumed: bool


class SchedulerCache:
    """Nodes and their pods (see the module docstring)."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        # Nodes that exist (have a Node object) by zone, and the zone each is filed under.
        self._zones: dict[str, list[NodeInfo]] = {}
        self._zone_of: dict[str, str] = {}
        self._node_list: list[NodeInfo] = []
        self._node_list_stale = False
        self._pods: dict[str, _PodState] = {}
        #: Names of the nodes hosting pods with any (anti-)affinity term, and with a
        #: required anti-affinity term: InterPodAffinity visits only these for pods
        #: that have no terms of their own.
        self.nodes_with_affinity_pods: set[str] = set()
        self.nodes_with_required_anti_affinity_pods: set[str] = set()
        #: Names of the nodes with NoSchedule/NoExecute taints, PreferNoSchedule taints,
        #: and cordoned ones: plugins skip their per-node work when a set is empty.
        self.hard_tainted_nodes: set[str] = set()
        self.prefer_tainted_nodes: set[str] = set()
        self.unschedulable_nodes: set[str] = set()
        #: image name -> how many nodes have it (ImageLocality spreads scores by it)
        self.image_nodes: dict[str, int] = {}
        #: Bumped on every change, so plugins can cache cluster-wide aggregates.
        self.generation = 0

    # -- nodes ---------------------------------------------------------------------------

    @property
    def node_list(self) -> list[NodeInfo]:
        """Every existing node, zones interleaved (module docstring): the list a
        scheduling cycle walks from a rotating start index."""
        if self._node_list_stale:
            self._node_list = self._interleave()
            self._node_list_stale = False
        return self._node_list

    def _interleave(self) -> list[NodeInfo]:
        zones = [*self._zones.values()]
        if len(zones) == 1:
            return [*zones[0]]
        out: list[NodeInfo] = []
        for i in range(max(map(len, zones), default=0)):
            out.extend(nodes[i] for nodes in zones if i < len(nodes))
        return out

    def _file_node(self, info: NodeInfo) -> None:
        """Put an existing node under its current zone (moving it if that changed)."""
        zone = zone_key(info.labels)
        before = self._zone_of.get(info.name)
        if before == zone:
            return
        if before is not None:
            self._unfile_node(info)
        self._zone_of[info.name] = zone
        self._zones.setdefault(zone, []).append(info)
        self._node_list_stale = True

    def _unfile_node(self, info: NodeInfo) -> None:
        zone = self._zone_of.pop(info.name, None)
        if zone is None:
            return
        members = self._zones[zone]
        members.remove(info)
        if not members:
            del self._zones[zone]
        self._node_list_stale = True

    def add_node(self, node: Obj) -> NodeInfo:
        """A Node was added (or first seen)."""
        name = str((node.get("metadata") or {}).get("name") or "")
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name, node)
        else:
            self._count_images(info, -1)
            info.set_node(node)
        self._file_node(info)
        self._count_images(info, 1)
        self._flags(info)
        self.generation += 1
        return info

    def _count_images(self, info: NodeInfo, delta: int) -> None:
        if info.node is None:
            return
        counts = self.image_nodes
        for image in info.images:
            left = counts.get(image, 0) + delta
            if left > 0:
                counts[image] = left
            else:
                counts.pop(image, None)

    def _flags(self, info: NodeInfo) -> None:
        present = info.node is not None
        for flagged, on in ((self.hard_tainted_nodes, bool(info.hard_taints)),
                            (self.prefer_tainted_nodes, bool(info.prefer_taints)),
                            (self.unschedulable_nodes, info.unschedulable)):
            if on and present:
                flagged.add(info.name)
            else:
                flagged.discard(info.name)

    def update_node(self, node: Obj) -> NodeInfo:
        """A Node changed."""
        return self.add_node(node)

    def refresh_node(self, node: Obj) -> None:
        """A Node changed in nothing the scheduler derives from it (a heartbeat): keep
        the newer object, recompute nothing."""
        info = self.nodes.get(str((node.get("metadata") or {}).get("name") or ""))
        if info is None or info.node is None:
            self.add_node(node)
        else:
            info.node = node

    def remove_node(self, name: str) -> None:
        """A Node was deleted. Pods still recorded on it keep a node-less entry until they
        are deleted too (the Node may come back)."""
        info = self.nodes.get(name)
        if info is None:
            return
        self._unfile_node(info)
        self._count_images(info, -1)
        info.node = None
        info.images = {}
        self._flags(info)
        if not info.pods:
            del self.nodes[name]
        self.generation += 1

    def node(self, name: str) -> NodeInfo | None:
        """The NodeInfo of an existing node."""
        info = self.nodes.get(name)
        return info if info is not None and info.node is not None else None

    # -- pods ----------------------------------------------------------------------------

    def _place(self, info: PodInfo, node_name: str) -> None:
        node = self.nodes.get(node_name)
        if node is None:
            node = self.nodes[node_name] = NodeInfo(node_name)
        node.add_pod(info)
        if info.has_affinity_terms:
            self.nodes_with_affinity_pods.add(node_name)
        if info.anti_affinity:
            self.nodes_with_required_anti_affinity_pods.add(node_name)

    def _unplace(self, key: str, node_name: str) -> None:
        node = self.nodes.get(node_name)
        if node is None:
            return
        node.remove_pod(key)
        if not node.pods_with_affinity:
            self.nodes_with_affinity_pods.discard(node_name)
        if not node.pods_with_required_anti_affinity:
            self.nodes_with_required_anti_affinity_pods.discard(node_name)
        if node.node is None and not node.pods:
            del self.nodes[node_name]

    def assume_pod(self, info: PodInfo, node_name: str) -> None:
        """Count ``info`` on ``node_name`` before the API confirms the binding."""
        if info.key in self._pods:
            raise ValueError(f"pod {info.key} is already in the cache")
        info.node_name = node_name
        self._pods[info.key] = _PodState(info, node_name, True)
        self._place(info, node_name)
        self.generation += 1

    def forget_pod(self, key: str) -> None:
        """Undo :meth:`assume_pod` (the binding failed)."""
        state = self._pods.get(key)
        if state is None or not state.assumed:
            return
        del self._pods[key]
        self._unplace(key, state.node_name)
        self.generation += 1

    def is_assumed(self, key: str) -> bool:
        """Whether ``key`` is assumed and not yet confirmed by the watch."""
        state = self._pods.get(key)
        return state is not None and state.assumed

    def add_pod(self, pod: Obj) -> None:
        """An assigned pod arrived from the watch (or changed): confirm an assumed entry,
        or count it."""
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        state = self._pods.get(key)
        if state is not None:
            old = state.info
            if state.node_name == node_name and old.uid == meta.get("uid") and \
                    old.labels == (meta.get("labels") or {}) and \
                    old.deleting == bool(meta.get("deletionTimestamp")) and \
                    same_scheduling_inputs(old.pod.get("spec") or {}, pod.get("spec") or {}):
                # The binding (or a status change) touched nothing the plugins read: keep
                # the precomputed info, refresh the object.
                old.pod = pod
                state.assumed = False
                return
            self._unplace(key, state.node_name)
        info = PodInfo(pod)
        self._pods[key] = _PodState(info, node_name, False)
        self._place(info, node_name)
        self.generation += 1

    def remove_pod(self, pod: Obj) -> None:
        """An assigned pod was deleted (or finished)."""
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
        state = self._pods.pop(key, None)
        if state is not None:
            self._unplace(key, state.node_name)
            self.generation += 1

    def pod(self, key: str) -> PodInfo | None:
        """The cached info of an assigned or assumed pod."""
        state = self._pods.get(key)
        return state.info if state is not None else None

    def pod_count(self) -> int:
        """How many pods are cached (assumed included)."""
        return len(self._pods)


def same_scheduling_inputs(old: Obj, new: Obj) -> bool:
    """Whether two versions of a pod spec agree on what the plugins read and an update may
    change (API validation keeps the rest — affinity, selectors, volumes, priority —
    immutable): tolerations, pod-level resources and overhead, containers' resources and
    ports."""
    for key in ("tolerations", "resources", "overhead"):
        if old.get(key) != new.get(key):
            return False
    for key in ("containers", "initContainers"):
        before, after = old.get(key) or (), new.get(key) or ()
        if len(before) != len(after):
            return False
        for a, b in zip(before, after, strict=True):
            if a.get("resources") != b.get("resources") or a.get("ports") != b.get("ports"):
                return False
    return True
