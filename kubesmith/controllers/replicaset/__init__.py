"""The ReplicaSet and ReplicationController controllers (upstream ``pkg/controller/replicaset``;
a ReplicationController is the same logic on the core/v1 kind with a map selector:
:mod:`.kinds`). The controller is in :mod:`.controller`, the status it writes in
:mod:`.status` and the order surplus pods are deleted in :mod:`.deletion`.

Concurrency design: informer handlers only enqueue ``namespace/name`` keys and record
*expectations*; one worker at a time reconciles a key from the shared caches:

* **Expectations.** Before creating N pods a worker records "expect N creations"; before
  deleting pods it records their keys. The pod informer lowers those as it sees the pods
  appear or go. A key whose expectations are not yet met is not scaled again (its status
  still is), so a cache that has not caught up with our own writes never makes us create or
  delete twice. Expectations older than five minutes count as met, so a lost event cannot
  wedge a ReplicaSet.
* **Slow start.** Creations go in batches of 1, 2, 4, ... (at most 500 per sync): when the
  first pod is refused (quota, admission) the rest are not even tried, the refusal becomes
  a ``FailedCreate`` event and a ``ReplicaFailure`` condition, and the key is retried with
  backoff.
* **Ownership.** Orphan pods matching the selector are adopted (a controller
  ownerReference, after re-reading the owner from the server); owned pods that stopped
  matching are released.
* **Deletion order.** Surplus pods are deleted cheapest first: unscheduled, pending, not
  ready, lower ``pod-deletion-cost``, doubled up on a node, ready for less time (log
  scale), more restarts, newer (log scale).
"""

from kubesmith.controllers.replicaset.controller import ReplicaSetController, ReplicationManager

__all__ = ["ReplicaSetController", "ReplicationManager"]
