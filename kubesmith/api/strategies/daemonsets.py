"""DaemonSets carry their template generation in the
``deprecated.daemonset.template.generation`` annotation: 1 on create, bumped whenever the
pod template changes, as upstream's strategy does. The controller labels pods with it
(``pod-template-generation``) and older tooling reads it."""

from __future__ import annotations

from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj

TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


class DaemonSetStrategy(Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["metadata"].setdefault("annotations", {})[TEMPLATE_GENERATION] = "1"

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        old_annotations = old.get("metadata", {}).get("annotations") or {}
        try:
            generation = int(old_annotations.get(TEMPLATE_GENERATION) or 0)
        except ValueError:
            generation = 0
        if (new.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template"):
            generation += 1
        if generation:
            new["metadata"].setdefault("annotations", {})[TEMPLATE_GENERATION] = \
                str(generation)
