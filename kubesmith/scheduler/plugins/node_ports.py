"""NodePorts: a pod's host ports must be free on the node."""

from __future__ import annotations

from collections.abc import Sequence

from kubesmith.scheduler.framework import (
    SKIP,
    CycleState,
    FilterPlugin,
    PreFilterPlugin,
    PreFilterResult,
    Status,
    unschedulable,
)
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo

ERR_REASON = "node(s) didn't have free ports for the requested pod ports"


class NodePorts(PreFilterPlugin, FilterPlugin):
    """Upstream's NodePorts plugin (host IP ``0.0.0.0`` conflicts with every address)."""

    name = "NodePorts"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
                   ) -> PreFilterResult | Status | None:
        """Skip the Filter for pods without host ports."""
        return None if pod.host_ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Reject a node where one of the pod's host ports is taken."""
        if pod.host_ports and node.port_conflict(pod.host_ports):
            return unschedulable(ERR_REASON)
        return None
