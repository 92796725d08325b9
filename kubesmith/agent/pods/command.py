"""A container's argv, working directory and environment, from its spec and its image's
config, as containerd builds them for the kubelet.

* ``command`` replaces the image's ENTRYPOINT *and* drops its CMD; ``args`` replaces only
  CMD. Both have their ``$(VAR)`` references expanded against the container's final
  environment first.
* The environment is the image's ``Env`` with the container's variables laid over it (a
  variable the container sets replaces the image's in place; new ones are appended), after
  ``HOSTNAME``.
* The working directory is ``workingDir``, else the image's, else ``/``.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubesmith.agent.pods.expansion import expand, mapping_for
from kubesmith.api.types import Obj


class EmptyCommand(ValueError):
    """Neither the container nor its image says what to run."""


def expand_command(container: Obj, env: Sequence[tuple[str, str]]) -> tuple[list[str],
                                                                           list[str]]:
    """The container's ``command`` and ``args`` with ``$(VAR)`` expanded from ``env``."""
    mapping = mapping_for(dict(env))
    command = [expand(str(part), mapping) for part in container.get("command") or ()]
    args = [expand(str(part), mapping) for part in container.get("args") or ()]
    return command, args


def container_argv(command: Sequence[str], args: Sequence[str], entrypoint: Sequence[str],
                   cmd: Sequence[str]) -> list[str]:
    """The process to run: see the module docstring for the merge rules."""
    argv = [*command, *args] if command else [*entrypoint, *(args or cmd)]
    if not argv:
        raise EmptyCommand("no command specified")
    return argv


def merged_env(image_env: Sequence[str], env: Sequence[tuple[str, str]],
               hostname: str) -> list[tuple[str, str]]:
    """The container's environment: ``HOSTNAME``, the image's ``Env``, then ``env`` laid
    over them (see the module docstring)."""
    merged: dict[str, str] = {"HOSTNAME": hostname}
    for entry in image_env:
        name, _, value = entry.partition("=")
        merged[name] = value
    for name, value in env:
        merged[name] = value
    return list(merged.items())


def working_dir(container: Obj, image_working_dir: str) -> str:
    """``workingDir``, else the image's, else ``/``."""
    return str(container.get("workingDir") or image_working_dir or "/")
