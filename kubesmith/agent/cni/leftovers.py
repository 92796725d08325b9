"""Removing iptables rules a plugin could not remove because the pod's netns was gone.

The bridge plugin (containernetworking-plugins 1.1) finds the addresses whose masquerade
rule it must delete by looking inside the network namespace; when the namespace vanished
before DEL (a crashed or half-removed sandbox) it releases the address but leaves the rule
and its per-pod chain behind. Plugins tag every such rule with a comment carrying the
container id (``name: "<net>" id: "<container id>"``), so after a DEL without a namespace we
delete the rules carrying that id, and the chains that held only such rules. Chains shared
by pods (``CNI-HOSTPORT-*``) always hold rules of other pods or none and are left alone.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import shutil

log = logging.getLogger(__name__)

TOOLS = (("iptables-save", "iptables"), ("ip6tables-save", "ip6tables"))


async def _run(*argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await proc.communicate()
    if proc.returncode != 0:
        log.debug("%s: %s", " ".join(argv), stderr.decode(errors="replace").strip())
    return proc.returncode or 0, stdout.decode(errors="replace")


def rules_of(save_output: str, container_id: str
             ) -> tuple[list[tuple[str, str, list[str]]], set[tuple[str, str]]]:
    """From ``iptables-save`` output: the rules tagged with the container id as (table,
    chain, rule arguments), and the (table, chain) pairs that hold nothing else."""
    marker = f'id: \\"{container_id}\\"'
    table = ""
    tagged: list[tuple[str, str, list[str]]] = []
    chain_rules: dict[tuple[str, str], list[bool]] = {}
    for line in save_output.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith("-A "):
            parts = shlex.split(line)
            mine = marker in line
            chain_rules.setdefault((table, parts[1]), []).append(mine)
            if mine:
                tagged.append((table, parts[1], parts[2:]))
    only_ours = {key for key, flags in chain_rules.items() if flags and all(flags)}
    return tagged, only_ours


async def remove_tagged_rules(container_id: str) -> None:
    """Best effort: delete the container's leftover rules and per-pod chains."""
    for save, tool in TOOLS:
        if shutil.which(save) is None or shutil.which(tool) is None:
            continue
        code, output = await _run(save)
        if code != 0:
            continue
        tagged, only_ours = rules_of(output, container_id)
        for table, chain, args in tagged:
            await _run(tool, "-t", table, "-D", chain, *args)
        for table, chain in only_ours:
            if chain.startswith("CNI-"):
                await _run(tool, "-t", table, "-X", chain)
        if tagged:
            log.info("removed %d leftover %s rules of container %s", len(tagged), tool,
                     container_id)
