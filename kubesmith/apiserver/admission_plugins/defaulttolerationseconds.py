"""DefaultTolerationSeconds admission, as upstream's plugin of that name.

Every new pod tolerates the ``node.kubernetes.io/not-ready`` and
``node.kubernetes.io/unreachable`` NoExecute taints for 300 s (configurable) unless it
already says how it tolerates them. So when a node stops reporting, the node lifecycle
controller's taints evict its pods after five minutes rather than at once — and a pod can
choose to stay longer or leave sooner by stating its own toleration.
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.types import Obj
from kubesmith.apiserver.admission import AdmissionRequest

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"


def _tolerates(tolerations: list[dict[str, Any]], key: str) -> bool:
    for t in tolerations:
        effect = t.get("effect") or ""
        if effect not in ("", "NoExecute"):
            continue
        if t.get("operator") == "Exists" and not t.get("key"):
            return True
        if t.get("key") == key:
            return True
    return False


class DefaultTolerationSeconds:
    name = "DefaultTolerationSeconds"

    def __init__(self, not_ready_seconds: int = 300, unreachable_seconds: int = 300) -> None:
        self.seconds = {NOT_READY: not_ready_seconds, UNREACHABLE: unreachable_seconds}

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if req.operation != "CREATE" or req.rt.group != "" or req.rt.plural != "pods" or \
                req.subresource or not isinstance(obj, dict):
            return
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        tolerations = spec.get("tolerations")
        if tolerations is None:
            tolerations = []
        if not isinstance(tolerations, list):
            return  # validation reports the malformed field
        valid = [t for t in tolerations if isinstance(t, dict)]
        added = [{"key": key, "operator": "Exists", "effect": "NoExecute",
                  "tolerationSeconds": seconds}
                 for key, seconds in self.seconds.items() if not _tolerates(valid, key)]
        if added:
            spec["tolerations"] = [*tolerations, *added]

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        return None
