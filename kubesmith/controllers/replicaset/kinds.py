"""What differs between a ReplicaSet and a ReplicationController: the resource, the
kind written into owner references and events, how the selector is read and whether the
status counts terminating replicas. Everything else is the same controller."""

from __future__ import annotations

from dataclasses import dataclass

from kubesmith.api.selectors import (
    LabelSelector,
    label_selector_from_object,
    label_selector_from_set,
)
from kubesmith.api.types import Obj
from kubesmith.client.rest import REPLICASETS, REPLICATIONCONTROLLERS, Resource


@dataclass(frozen=True, slots=True)
class ReplicaKind:
    """What differs between a ReplicaSet and a ReplicationController."""

    resource: Resource
    kind: str
    api_version: str
    #: ``status.terminatingReplicas`` exists (apps/v1 ReplicaSet only).
    terminating_status: bool

    def selector(self, obj: Obj) -> LabelSelector:
        """The pod selector (raises SelectorError for an invalid one)."""
        raw = (obj.get("spec") or {}).get("selector")
        if self.kind == "ReplicationController":
            return label_selector_from_set(raw or {})
        return label_selector_from_object(raw)


REPLICASET = ReplicaKind(REPLICASETS, "ReplicaSet", "apps/v1", terminating_status=True)
REPLICATIONCONTROLLER = ReplicaKind(REPLICATIONCONTROLLERS, "ReplicationController", "v1",
                                    terminating_status=False)
