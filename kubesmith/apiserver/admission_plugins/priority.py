"""Priority admission, as upstream's ``plugin/pkg/admission/priority``.

On pod creation ``spec.priorityClassName`` resolves to ``spec.priority`` and
``spec.preemptionPolicy`` from the PriorityClass of that name (the built-in
``system-node-critical`` and ``system-cluster-critical`` always exist). A pod without a
class gets the global default (the lowest-valued one when several claim it), or priority 0
when there is none. An unknown class is refused with 403 ``no PriorityClass with name x
was found``; a pod that states a different priority or preemption policy than its class is
refused too. Updates keep the priority set at creation.

PriorityClass writes may not add a second ``globalDefault``.
"""

from __future__ import annotations

from typing import Any

from kubesmith.api import errors
from kubesmith.api.resources import Resources
from kubesmith.api.types import Obj
from kubesmith.apiserver.admission import AdmissionRequest

GROUP = "scheduling.k8s.io"
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000
BUILTIN_CLASSES: dict[str, Obj] = {
    "system-node-critical": {
        "metadata": {"name": "system-node-critical"},
        "value": SYSTEM_CRITICAL_PRIORITY + 1000, "preemptionPolicy": "PreemptLowerPriority",
        "description": "Used for system critical pods that must not be moved from their "
                       "current node."},
    "system-cluster-critical": {
        "metadata": {"name": "system-cluster-critical"},
        "value": SYSTEM_CRITICAL_PRIORITY, "preemptionPolicy": "PreemptLowerPriority",
        "description": "Used for system critical pods that must run in the cluster, but can "
                       "be moved to another node if necessary."},
}


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _name(obj: Obj) -> str:
    return str(_d(obj.get("metadata")).get("name", ""))


class Priority:
    name = "Priority"

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def _classes(self) -> list[Obj]:
        store = self.resources.for_kind(GROUP, "PriorityClass")
        if store is None:
            return []
        return [c.obj for c in store.cache.iter_from(None)]

    async def _lookup(self, name: str) -> Obj | None:
        store = self.resources.for_kind(GROUP, "PriorityClass")
        if store is not None:
            key = store.key(None, name)
            cached = store.cache.get(key)
            if cached is None:
                await store.cache.wait_consistent()
                cached = store.cache.get(key)
            if cached is not None:
                return cached.obj
        return BUILTIN_CLASSES.get(name)

    def _default(self) -> Obj | None:
        best: Obj | None = None
        for pc in self._classes():
            if pc.get("globalDefault") is True and \
                    (best is None or int(best.get("value", 0)) > int(pc.get("value", 0))):
                best = pc
        return best

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if obj is None or req.subresource or req.rt.group != "" or req.rt.plural != "pods":
            return
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        if req.operation == "UPDATE":
            old_spec = _d((old or {}).get("spec"))
            for key in ("priority", "preemptionPolicy"):
                if spec.get(key) is None and old_spec.get(key) is not None:
                    spec[key] = old_spec[key]
            return
        if req.operation != "CREATE":
            return
        pod_name = _name(obj) or req.name
        class_name = spec.get("priorityClassName")
        pc: Obj | None
        if not class_name:
            pc = self._default()
            if pc is not None:
                spec["priorityClassName"] = _name(pc)
        else:
            pc = await self._lookup(str(class_name))
            if pc is None:
                raise errors.forbidden_operation(
                    "pods", pod_name, f"no PriorityClass with name {class_name} was found")
        priority = int(pc.get("value", 0)) if pc is not None else 0
        policy = pc.get("preemptionPolicy") if pc is not None else None
        stated = spec.get("priority")
        if stated is not None and stated != priority:
            raise errors.forbidden_operation(
                "pods", pod_name,
                f"the integer value of priority ({stated}) must not be provided in pod spec; "
                f"priority admission controller computed {priority} from the given "
                "PriorityClass name")
        spec["priority"] = priority
        if policy is not None:
            stated_policy = spec.get("preemptionPolicy")
            if stated_policy is not None and stated_policy != policy:
                raise errors.forbidden_operation(
                    "pods", pod_name,
                    f"the string value of PreemptionPolicy ({stated_policy}) must not be "
                    f"provided in pod spec; priority admission controller computed {policy} "
                    "from the given PriorityClass name")
            spec["preemptionPolicy"] = policy

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if obj is None or req.subresource or req.rt.group != GROUP or \
                req.rt.plural != "priorityclasses" or \
                req.operation not in ("CREATE", "UPDATE"):
            return
        if obj.get("globalDefault") is not True:
            return
        name = _name(obj) or req.name
        for pc in self._classes():
            if pc.get("globalDefault") is True and _name(pc) != name:
                raise errors.forbidden_operation(
                    "priorityclasses", name,
                    f"PriorityClass {_name(pc)} is already marked as default. Only one "
                    "default can exist", GROUP)
