"""ImageLocality: prefer nodes that already have the pod's images, weighing an image by
its size and by how many nodes have it (an image on every node says nothing)."""

from __future__ import annotations

from kubesmith.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    CycleState,
    PreScorePlugin,
    ScorePlugin,
    Status,
)
from kubesmith.scheduler.handle import Handle
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB
_STATE_KEY = "PreScoreImageLocality"


def normalized_image_name(name: str) -> str:
    """``nginx`` -> ``nginx:latest``; a name with a tag (or a digest) is kept."""
    if name.rfind(":") <= name.rfind("/"):
        return f"{name}:latest"
    return name


class ImageLocality(PreScorePlugin, ScorePlugin):
    """Upstream's ImageLocality plugin."""

    name = "ImageLocality"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        """Skip when no node has any of the pod's images (every score would be 0)."""
        spec = pod.pod.get("spec") or {}
        containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
        images = [normalized_image_name(str(c.get("image") or "")) for c in containers]
        known = self.handle.cache.image_nodes
        if not any(image in known for image in images):
            return SKIP
        state.data[_STATE_KEY] = (images, len(containers))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """Sizes of the images present, each scaled by the share of nodes having it, mapped
        from [23 MB, 1000 MB per container] onto 0..100."""
        images: list[str]
        containers: int
        images, containers = state.data[_STATE_KEY]
        counts = self.handle.cache.image_nodes
        total_nodes = max(len(self.handle.cache.node_list), 1)
        total = 0
        for image in images:
            size = node.images.get(image)
            if size is not None:
                total += int(size * (counts.get(image, 0) / total_nodes))
        high = MAX_CONTAINER_THRESHOLD * containers
        total = min(max(total, MIN_THRESHOLD), high)
        return MAX_NODE_SCORE * (total - MIN_THRESHOLD) // (high - MIN_THRESHOLD)
