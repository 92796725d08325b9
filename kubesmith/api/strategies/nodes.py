"""Nodes: a kubelet registers its Node with the status it observed (capacity, addresses,
conditions), so unlike other kinds the status given on create is kept, as upstream's node
strategy allows."""

from __future__ import annotations

from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj


class NodeStrategy(Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        status = obj.get("status")
        super().prepare_for_create(obj)
        if status is not None:
            obj["status"] = status
