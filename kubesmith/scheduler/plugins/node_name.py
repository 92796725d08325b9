"""NodeName: a pod that names its node (``spec.nodeName``) fits only there."""

from __future__ import annotations

from collections.abc import Sequence

from kubesmith.scheduler.framework import (
    SKIP,
    CycleState,
    FilterPlugin,
    PreFilterPlugin,
    PreFilterResult,
    Status,
    unresolvable,
)
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo

ERR_REASON = "node(s) didn't match the requested node name"


class NodeName(PreFilterPlugin, FilterPlugin):
    """Upstream's NodeName plugin."""

    name = "NodeName"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
                   ) -> PreFilterResult | Status | None:
        """Nothing to check for the usual pod without ``spec.nodeName``."""
        wanted = (pod.pod.get("spec") or {}).get("nodeName")
        if not wanted:
            return SKIP
        return PreFilterResult(frozenset((str(wanted),)))

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Reject every node but the named one."""
        wanted = (pod.pod.get("spec") or {}).get("nodeName")
        if wanted and wanted != node.name:
            return unresolvable(ERR_REASON)
        return None
