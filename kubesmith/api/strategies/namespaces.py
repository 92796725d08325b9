"""Namespaces: Active on create, Terminating on delete until ``spec.finalizers`` empty."""

from __future__ import annotations

from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj


class NamespaceStrategy(Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        spec.setdefault("finalizers", ["kubernetes"])
        obj["metadata"].pop("generation", None)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        # spec.finalizers change only through the finalize subresource; status only
        # through status.
        new["spec"] = old.get("spec", {})
        new["status"] = old.get("status", {})

    def prepare_for_finalize(self, new: Obj, old: Obj) -> None:
        new["status"] = old.get("status", {})

    def begin_delete(self, obj: Obj) -> bool:
        obj.setdefault("status", {})["phase"] = "Terminating"
        return bool(obj.get("spec", {}).get("finalizers"))

    def ready_to_finalize(self, obj: Obj) -> bool:
        return not obj.get("spec", {}).get("finalizers")
