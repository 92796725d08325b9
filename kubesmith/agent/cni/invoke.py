"""Running one CNI plugin binary per the CNI spec's execution protocol.

The runtime passes the operation in environment variables (``CNI_COMMAND``,
``CNI_CONTAINERID``, ``CNI_NETNS``, ``CNI_IFNAME``, ``CNI_ARGS``, ``CNI_PATH``) and the
network configuration on stdin; the plugin answers with a JSON result on stdout, or with a
JSON error ``{code, msg, details}`` and a non-zero exit. Each plugin of a list gets the
list's ``name`` and ``cniVersion``, the previous plugin's result as ``prevResult``, and the
runtime values it declared ``capabilities`` for under ``runtimeConfig`` (libcni's rules).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kubesmith.agent.cni.errors import CODE_DECODING_FAILURE, CODE_INVOCATION, CNIError
from kubesmith.api.types import Obj


@dataclass(frozen=True)
class Invocation:
    """Where and for whom a plugin runs (everything but the command and config)."""

    container_id: str
    netns: str  # "" when the namespace is gone (DEL must still release resources)
    ifname: str
    cni_args: tuple[tuple[str, str], ...]
    bin_dirs: tuple[Path, ...]


def cni_args_string(args: Sequence[tuple[str, str]]) -> str:
    return ";".join(f"{key}={value}" for key, value in args)


def find_plugin(plugin_type: str, bin_dirs: Sequence[Path]) -> Path:
    """The first executable called ``plugin_type`` in ``bin_dirs``."""
    for directory in bin_dirs:
        candidate = directory / plugin_type
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    dirs = " ".join(str(d) for d in bin_dirs)
    raise CNIError(f'failed to find plugin "{plugin_type}" in path [{dirs}]')


def supports_prev_result_on_del(cni_version: str) -> bool:
    """DEL and CHECK carry prevResult from spec 0.4.0 on."""
    try:
        parts = tuple(int(p) for p in cni_version.split(".")[:3])
    except ValueError:
        return False
    return parts >= (0, 4, 0)


def plugin_config(plugin: Obj, *, network_name: str, cni_version: str,
                  prev_result: Obj | None, capability_args: Mapping[str, Any]) -> Obj:
    """The stdin document for one plugin of a list."""
    conf: Obj = dict(plugin)
    conf["name"] = network_name
    conf["cniVersion"] = cni_version
    if prev_result is not None:
        conf["prevResult"] = prev_result
    else:
        conf.pop("prevResult", None)
    declared = plugin.get("capabilities") or {}
    runtime: Obj = {}
    for capability, enabled in declared.items():
        if enabled and capability in capability_args:
            runtime[capability] = capability_args[capability]
    if runtime:
        conf["runtimeConfig"] = {**(plugin.get("runtimeConfig") or {}), **runtime}
    return conf


async def exec_plugin(command: str, conf: Obj, invocation: Invocation, *,
                      time_limit: float) -> Obj | None:
    """Run the plugin named by ``conf["type"]``; return its decoded result (None if it
    printed nothing, as DEL usually does) or raise :class:`CNIError`."""
    plugin_type = str(conf.get("type", ""))
    network = str(conf.get("name", ""))
    try:
        binary = find_plugin(plugin_type, invocation.bin_dirs)
    except CNIError as exc:
        raise CNIError(exc.msg, plugin=plugin_type, network=network, command=command) from None
    env = dict(os.environ)
    env.update({
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": invocation.container_id,
        "CNI_NETNS": invocation.netns,
        "CNI_IFNAME": invocation.ifname,
        "CNI_ARGS": cni_args_string(invocation.cni_args),
        "CNI_PATH": os.pathsep.join(str(d) for d in invocation.bin_dirs),
    })
    proc = await asyncio.create_subprocess_exec(
        str(binary), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(orjson.dumps(conf)), time_limit)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise CNIError(f"timed out after {time_limit:g}s", plugin=plugin_type, network=network,
                       command=command) from None
    if proc.returncode != 0:
        raise _plugin_error(stdout, stderr, proc.returncode, plugin_type, network, command)
    if not stdout.strip():
        return None
    try:
        result = orjson.loads(stdout)
    except orjson.JSONDecodeError as exc:
        raise CNIError(f"decoding result: {exc}", code=CODE_DECODING_FAILURE,
                       plugin=plugin_type, network=network, command=command) from None
    if not isinstance(result, dict):
        raise CNIError("decoding result: not a JSON object", code=CODE_DECODING_FAILURE,
                       plugin=plugin_type, network=network, command=command)
    return result


def _plugin_error(stdout: bytes, stderr: bytes, returncode: int | None, plugin_type: str,
                  network: str, command: str) -> CNIError:
    try:
        doc = orjson.loads(stdout) if stdout.strip() else None
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and ("msg" in doc or "code" in doc):
        code = doc.get("code")
        return CNIError(str(doc.get("msg", "")), code=code if isinstance(code, int) else 0,
                        details=str(doc.get("details") or ""), plugin=plugin_type,
                        network=network, command=command)
    # Not a spec error document: report what the plugin said, as libcni does with stderr.
    text = (stderr or stdout).decode(errors="replace").strip()
    return CNIError(text or f"exited with status {returncode}", code=CODE_INVOCATION,
                    plugin=plugin_type, network=network, command=command)
