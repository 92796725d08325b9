"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take only pods that tolerate
the ``node.kubernetes.io/unschedulable:NoSchedule`` taint."""

from __future__ import annotations

from kubesmith.scheduler.framework import CycleState, FilterPlugin, Status, unresolvable
from kubesmith.scheduler.handle import Handle
from kubesmith.scheduler.matching import NO_SCHEDULE, Taint, tolerated
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo

ERR_REASON = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "", NO_SCHEDULE)


class NodeUnschedulable(FilterPlugin):
    """Upstream's NodeUnschedulable plugin."""

    name = "NodeUnschedulable"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Reject a cordoned node unless the pod tolerates it."""
        if node.unschedulable and not tolerated(UNSCHEDULABLE_TAINT, pod.tolerations):
            return unresolvable(ERR_REASON)
        return None

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                     ) -> list[NodeInfo]:
        """Batch form of :meth:`filter`."""
        if not self.handle.cache.unschedulable_nodes or \
                tolerated(UNSCHEDULABLE_TAINT, pod.tolerations):
            return nodes
        return [n for n in nodes if not n.unschedulable]
