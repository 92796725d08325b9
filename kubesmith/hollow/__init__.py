"""Hollow nodes: simulated kubelets (KWOK-like) for tests and scale benchmarks.

A hollow node registers a real Node object (capacity, addresses, ``nodeInfo``, kubelet
conditions), renews its Lease in ``kube-node-lease`` and "runs" the pods bound to it: no
containers exist, but the pods go through the statuses a kubelet would write (``Running``
and ready with a pod IP from the node's ``spec.podCIDR``; ``Succeeded``/``Failed``;
crash-loop restarts; graceful termination followed by the final delete). Thousands of them
run in one process on one asyncio loop:

* :mod:`kubesmith.hollow.nodes` — registration, status heartbeats, Leases;
* :mod:`kubesmith.hollow.pods` — one shared pod informer and work queue for all nodes;
* :mod:`kubesmith.hollow.lifecycle`, :mod:`~kubesmith.hollow.podstatus`,
  :mod:`~kubesmith.hollow.nodestatus`, :mod:`~kubesmith.hollow.addresses` — the pure
  simulation (timelines, rendered statuses, fake addresses).

Pods steer their simulated containers with annotations (values are numbers):

``hollow.kubesmith.io/run-seconds``
    How long the containers run before they exit. Default: 1 for pods with
    ``restartPolicy: Never`` or ``OnFailure``; pods with ``restartPolicy: Always`` run until
    deleted (given this annotation they exit and are restarted, crash-looping).
``hollow.kubesmith.io/exit-code``
    The exit code when they exit (default 0). Non-zero: the container terminates with
    reason ``Error``; with ``Never`` the pod becomes ``Failed``, with ``OnFailure`` (and
    ``Always``) it is restarted — ``restartCount`` grows, with a crash-loop back-off of 0 s,
    1 s, 2 s, ... capped at 10 s.
``hollow.kubesmith.io/terminate-seconds``
    How long the containers take to stop once the pod is deleted (default 0). Longer than
    the grace period: they are killed when it ends (exit code 137, reason ``Error``).

Containers with a readiness probe turn ready ``pod_ready_delay`` seconds after they start
(the probe is not run; it is taken to pass); others are ready as soon as they run.

Entry point: :func:`run_hollow_nodes` (``kubesmith hollow-nodes``).
"""

from kubesmith.hollow.app import HollowNodes, run_hollow_nodes
from kubesmith.hollow.lifecycle import (
    ANNOTATION_EXIT_CODE,
    ANNOTATION_RUN_SECONDS,
    ANNOTATION_TERMINATE_SECONDS,
)
from kubesmith.hollow.nodestatus import NodeTemplate

__all__ = [
    "ANNOTATION_EXIT_CODE",
    "ANNOTATION_RUN_SECONDS",
    "ANNOTATION_TERMINATE_SECONDS",
    "HollowNodes",
    "NodeTemplate",
    "run_hollow_nodes",
]
