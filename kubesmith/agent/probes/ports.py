"""Resolving a probe's port: a number, or the name of one of the container's ports."""

from __future__ import annotations

from typing import Any

from kubesmith.api.types import Obj


class PortError(Exception):
    """The port cannot be resolved (worded like the kubelet's errors)."""


def resolve_port(port: Any, container: Obj) -> int:
    """Upstream's ResolveContainerPort: ints as is; a string names a container port, or as a
    last resort is a number written as a string."""
    if isinstance(port, bool) or port is None:
        raise PortError(f"intOrString had no kind: {port!r}")
    if isinstance(port, int):
        number = port
    else:
        name = str(port)
        for declared in container.get("ports") or []:
            if declared.get("name") == name:
                number = int(declared.get("containerPort") or 0)
                break
        else:
            try:
                number = int(name, 10)
            except ValueError:
                raise PortError(f'strconv.Atoi: parsing "{name}": invalid syntax') from None
    if 0 < number < 65536:
        return number
    raise PortError(f"invalid port number: {number}")
