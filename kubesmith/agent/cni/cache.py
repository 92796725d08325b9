"""The result cache: what ADD used and returned, so DEL and CHECK can repeat it exactly.

The conflist on disk may change (or vanish) between a pod's ADD and its DEL, and plugins
from spec 0.4.0 on expect DEL to carry the ADD result as ``prevResult``; like libcni we keep
one JSON record per (network, container, interface) under ``<cache_dir>/results``. Records
are written atomically and removed only after a successful DEL.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kubesmith.agent.cni.config import NetworkConfigList, parse_config
from kubesmith.api.types import Obj

log = logging.getLogger(__name__)

CACHE_KIND = "cniCacheV1"


@dataclass(frozen=True)
class CachedAttachment:
    """One pod attachment as ADD made it."""

    container_id: str
    ifname: str
    netns: str
    config: NetworkConfigList
    cni_args: tuple[tuple[str, str], ...]
    capability_args: Obj
    result: Obj | None


class ResultCache:
    """Records under ``<cache_dir>/results/<network>-<container>-<ifname>``."""

    def __init__(self, cache_dir: Path) -> None:
        self.dir = cache_dir / "results"

    def path(self, network: str, container_id: str, ifname: str) -> Path:
        return self.dir / f"{network}-{container_id}-{ifname}"

    def save(self, entry: CachedAttachment) -> None:
        doc: Obj = {
            "kind": CACHE_KIND,
            "containerId": entry.container_id,
            "ifName": entry.ifname,
            "networkName": entry.config.name,
            "netns": entry.netns,
            "config": entry.config.to_json(),
            "cniArgs": [list(pair) for pair in entry.cni_args],
            "capabilityArgs": entry.capability_args,
            "result": entry.result,
        }
        path = self.path(entry.config.name, entry.container_id, entry.ifname)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps(doc))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def find(self, container_id: str, ifname: str) -> list[CachedAttachment]:
        """Every cached attachment of a container on ``ifname`` (normally one network)."""
        suffix = f"-{container_id}-{ifname}"
        try:
            names = sorted(p for p in self.dir.iterdir() if p.name.endswith(suffix))
        except FileNotFoundError:
            return []
        entries = []
        for path in names:
            entry = self._load(path)
            if entry is not None and entry.container_id == container_id:
                entries.append(entry)
        return entries

    def remove(self, network: str, container_id: str, ifname: str) -> None:
        self.path(network, container_id, ifname).unlink(missing_ok=True)

    def remove_all(self, container_id: str, ifname: str) -> None:
        """Drop every record of the container on ``ifname``, unreadable ones included."""
        suffix = f"-{container_id}-{ifname}"
        try:
            paths = [p for p in self.dir.iterdir() if p.name.endswith(suffix)]
        except FileNotFoundError:
            return
        for path in paths:
            path.unlink(missing_ok=True)

    def _load(self, path: Path) -> CachedAttachment | None:
        try:
            doc: Any = orjson.loads(path.read_bytes())
            if not isinstance(doc, dict) or doc.get("kind") != CACHE_KIND:
                raise ValueError("not a CNI cache record")
            return CachedAttachment(
                container_id=str(doc["containerId"]), ifname=str(doc["ifName"]),
                netns=str(doc.get("netns") or ""),
                config=parse_config(doc["config"]),
                cni_args=tuple((str(k), str(v)) for k, v in doc.get("cniArgs") or []),
                capability_args=dict(doc.get("capabilityArgs") or {}),
                result=doc.get("result"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A corrupt record must not block DEL: it falls back to the current config.
            log.warning("ignoring unreadable CNI cache record %s: %s", path, exc)
            return None
