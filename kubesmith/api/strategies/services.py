"""Services: values the server allocated survive an update that leaves them out.

``kubectl replace -f`` sends the manifest as written, without the clusterIP, ipFamilies or
nodePorts the server filled in at create; upstream's strategy copies the allocated values
across before validation (``patchAllocatedValues``) so the replace succeeds and the
allocations are kept. Allocation itself happens in :mod:`kubesmith.api.services`.
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj


def _needs_node_ports(spec: dict[str, Any]) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


class ServiceStrategy(Strategy):
    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        spec = new.setdefault("spec", {})
        old_spec = old.get("spec") or {}
        if spec.get("type", "ClusterIP") != "ExternalName" and \
                old_spec.get("type", "ClusterIP") != "ExternalName":
            if not spec.get("clusterIP") and old_spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
            if not spec.get("clusterIPs") and old_spec.get("clusterIPs") and \
                    spec.get("clusterIP") == old_spec.get("clusterIP"):
                spec["clusterIPs"] = old_spec["clusterIPs"]
            if not spec.get("ipFamilies") and old_spec.get("ipFamilies"):
                spec["ipFamilies"] = old_spec["ipFamilies"]
            if not spec.get("ipFamilyPolicy") and old_spec.get("ipFamilyPolicy"):
                spec["ipFamilyPolicy"] = old_spec["ipFamilyPolicy"]
        if _needs_node_ports(spec) and _needs_node_ports(old_spec):
            allocated = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                         for p in old_spec.get("ports") or [] if p.get("nodePort")}
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    kept = allocated.get((port.get("port"), port.get("protocol", "TCP")))
                    if kept:
                        port["nodePort"] = kept
            if not spec.get("healthCheckNodePort") and old_spec.get("healthCheckNodePort"):
                spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]
