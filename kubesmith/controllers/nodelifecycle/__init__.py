"""The node lifecycle controller: node health from heartbeats and Leases (:mod:`.health`),
the taints the node controllers own (:mod:`.nodes`), per-zone tainting rates
(:mod:`.evictor`), taint-based eviction (:mod:`.taint_eviction`) and the controller
(:mod:`.controller`)."""

from kubesmith.controllers.nodelifecycle.controller import NodeLifecycleController

__all__ = ["NodeLifecycleController"]
