"""Pod sandboxes: pinned namespaces plus a small record, all under ``paths.netns``.

``<id>.json`` records the pod a sandbox belongs to; it is written *before* anything is
pinned so a crash half-way leaves something :meth:`SandboxStore.list` reports and
:meth:`SandboxStore.remove` cleans. The directory lives in the agent's run dir: after a
reboot the namespaces are gone, and so are their records.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from pathlib import Path
from typing import Any

from kubesmith.agent.runtime import namespaces as ns
from kubesmith.agent.runtime.spec import Sandbox
from kubesmith.agent.runtime.state_files import read_json, write_json


class SandboxStore:
    def __init__(self, directory: Path, *, unshare: str = "unshare") -> None:
        self.directory = directory
        self.unshare = unshare

    def _record(self, sandbox_id: str) -> Path:
        return self.directory / f"{sandbox_id}.json"

    async def create(self, *, pod_uid: str, pod_name: str, namespace: str, hostname: str,
                     host_network: bool, host_ipc: bool, host_pid: bool) -> Sandbox:
        sandbox_id = secrets.token_hex(32)
        self.directory.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {
            "id": sandbox_id, "podUID": pod_uid, "podName": pod_name, "namespace": namespace,
            "hostname": hostname, "hostNetwork": host_network, "hostIPC": host_ipc,
            "hostPID": host_pid, "createdAt": time.time(),
        }
        write_json(self._record(sandbox_id), record)
        try:
            # hostNetwork pods also share the host's UTS namespace (and so its hostname).
            await ns.pin(self.directory, sandbox_id, net=not host_network,
                                  ipc=not host_ipc, uts=not host_network, hostname=hostname,
                                  unshare=self.unshare)
            if not host_ipc:
                ns.mount_shm(ns.shm_path(self.directory, sandbox_id))
        except BaseException:
            self.remove(sandbox_id)
            raise
        sandbox = self.get(sandbox_id)
        assert sandbox is not None
        return sandbox

    def remove(self, sandbox_id: str) -> None:
        """Unpin everything of the sandbox and forget it; idempotent."""
        ns.unpin(self.directory, sandbox_id)
        with contextlib.suppress(FileNotFoundError):
            self._record(sandbox_id).unlink()

    def get(self, sandbox_id: str) -> Sandbox | None:
        record = read_json(self._record(sandbox_id))
        if record is None:
            if sandbox_id not in ns.pinned_sandbox_ids(self.directory):
                return None
            record = {}
        return self._sandbox(sandbox_id, record)

    def _sandbox(self, sandbox_id: str, record: dict[str, Any]) -> Sandbox:
        def pinned(kind: str) -> Path | None:
            path = ns.ns_path(self.directory, sandbox_id, kind)
            return path if path.exists() else None

        shm = ns.shm_path(self.directory, sandbox_id)
        return Sandbox(
            id=sandbox_id, pod_uid=str(record.get("podUID", "")),
            netns_path=pinned(ns.NET), ipc_path=pinned(ns.IPC), uts_path=pinned(ns.UTS),
            pod_name=str(record.get("podName", "")), namespace=str(record.get("namespace", "")),
            hostname=str(record.get("hostname", "")), host_pid=bool(record.get("hostPID")),
            shm_path=shm if shm.exists() else None,
            created_at=float(record.get("createdAt", 0.0)))

    def list(self) -> list[Sandbox]:
        """Every sandbox with a record or anything pinned (records of half-made ones too)."""
        ids = set(ns.pinned_sandbox_ids(self.directory))
        with contextlib.suppress(FileNotFoundError):
            ids.update(p.stem for p in self.directory.glob("*.json"))
        return [s for s in (self.get(i) for i in sorted(ids)) if s is not None]

