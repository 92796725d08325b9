"""TaintNodesByCondition admission, as upstream's plugin: a Node is created tainted
``node.kubernetes.io/not-ready:NoSchedule``, so no pod is scheduled to it before the node
lifecycle controller has seen it report Ready (and removes the taint)."""

from __future__ import annotations

from kubesmith.api.types import Obj
from kubesmith.apiserver.admission import AdmissionRequest

NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}


class TaintNodesByCondition:
    name = "TaintNodesByCondition"

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if req.operation != "CREATE" or req.rt.group != "" or req.rt.plural != "nodes" or \
                req.subresource or not isinstance(obj, dict):
            return
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        taints = spec.get("taints") or []
        if not isinstance(taints, list):
            return  # validation reports the malformed field
        if any(isinstance(t, dict) and t.get("key") == NOT_READY_TAINT["key"] and
               t.get("effect") == NOT_READY_TAINT["effect"] for t in taints):
            return
        spec["taints"] = [*taints, dict(NOT_READY_TAINT)]

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        return None
