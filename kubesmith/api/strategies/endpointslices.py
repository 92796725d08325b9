"""EndpointSlices have no spec, yet upstream tracks their ``metadata.generation``: 1 on
create, bumped when anything but metadata changes or when the labels change. The
endpointslice controller relies on it to tell whether its cache has seen its own writes."""

from __future__ import annotations

from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj


class EndpointSliceStrategy(Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        obj["metadata"]["generation"] = 1

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        if "generation" not in new["metadata"]:
            new["metadata"]["generation"] = int(old.get("metadata", {}).get("generation")
                                                or 1)

    def spec_changed(self, new: Obj, old: Obj) -> bool:
        if {k: v for k, v in new.items() if k != "metadata"} != \
                {k: v for k, v in old.items() if k != "metadata"}:
            return True
        return bool(new.get("metadata", {}).get("labels") !=
                    old.get("metadata", {}).get("labels"))
