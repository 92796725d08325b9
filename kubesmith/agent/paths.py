"""Where the agent keeps its state on the host.

Durable state (images, pod volumes, container bundles) lives under ``root``; state that
must not survive a reboot (runc's state, conmon's sockets and exit files, pinned
namespaces) under ``run``, because after a reboot every container is gone and stale
records would make the agent adopt ghosts. Logs follow the kubelet's layout under ``log``
(``<namespace>_<pod>_<uid>/<container>/<restart>.log``) so log shippers find them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/var/lib/kubesmith/agent")
DEFAULT_RUN = Path("/run/kubesmith/agent")
DEFAULT_LOG = Path("/var/log/pods")


@dataclass(frozen=True)
class AgentPaths:
    root: Path = DEFAULT_ROOT
    run: Path = DEFAULT_RUN
    log: Path = DEFAULT_LOG

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def pods(self) -> Path:
        return self.root / "pods"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def runc_root(self) -> Path:
        return self.run / "runc"

    @property
    def conmon(self) -> Path:
        return self.run / "conmon"

    @property
    def netns(self) -> Path:
        return self.run / "netns"

    @property
    def cni_cache(self) -> Path:
        return self.run / "cni"

    def pod_dir(self, uid: str) -> Path:
        return self.pods / uid

    def container_dir(self, container_id: str) -> Path:
        return self.containers / container_id

    def pod_log_dir(self, namespace: str, name: str, uid: str) -> Path:
        return self.log / f"{namespace}_{name}_{uid}"

    def container_log(self, namespace: str, name: str, uid: str, container: str,
                      restart_count: int) -> Path:
        return self.pod_log_dir(namespace, name, uid) / container / f"{restart_count}.log"

    def ensure(self) -> None:
        """Create the directories, private to root: they hold secrets and tokens."""
        for directory in (self.root, self.run, self.log, self.images, self.pods,
                          self.containers, self.runc_root, self.conmon, self.netns,
                          self.cni_cache):
            directory.mkdir(parents=True, exist_ok=True)
        for directory in (self.root, self.run):
            directory.chmod(0o700)
