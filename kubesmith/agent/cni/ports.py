"""hostPort mappings of a pod, in the form the portmap plugin takes as ``portMappings``."""

from __future__ import annotations

from kubesmith.api.types import Obj


def port_mappings(pod: Obj) -> list[Obj]:
    """Every container port with a hostPort (app containers and restartable init
    containers, which keep running beside them), as containerd hands them to CNI."""
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork"):
        return []
    containers = list(spec.get("containers") or [])
    containers += [c for c in spec.get("initContainers") or []
                   if c.get("restartPolicy") == "Always"]
    mappings: list[Obj] = []
    for container in containers:
        for port in container.get("ports") or []:
            host_port = int(port.get("hostPort") or 0)
            if host_port <= 0:
                continue
            mapping: Obj = {
                "hostPort": host_port,
                "containerPort": int(port.get("containerPort") or 0),
                "protocol": str(port.get("protocol") or "TCP").lower(),
            }
            if port.get("hostIP"):
                mapping["hostIP"] = str(port["hostIP"])
            mappings.append(mapping)
    return mappings
