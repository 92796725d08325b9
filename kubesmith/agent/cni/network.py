"""Pod network attachment through CNI: the agent's side of the kubelet/containerd CNI calls.

Per pod sandbox, :meth:`CNI.add` brings up ``lo`` with the loopback plugin, then runs the
node's network list on ``eth0`` (each plugin chained on the previous one's result, with
hostPort mappings handed to plugins that declare the ``portMappings`` capability), and
caches config + arguments + result. :meth:`CNI.delete` replays the cached config in reverse
with the cached result as ``prevResult``; it is idempotent: with the namespace gone it
passes an empty ``CNI_NETNS`` (plugins then only release addresses and rules), without a
cache record it uses the current configuration, and the record is dropped only once every
plugin succeeded, so a retry after a failure still has everything. Rules a plugin could not
undo without the namespace are swept afterwards (see :mod:`.leftovers`).

Concurrency: calls for one container are serialized by a per-container lock; different
pods are attached in parallel (plugins such as host-local lock their own state).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from kubesmith.agent.cni.cache import CachedAttachment, ResultCache
from kubesmith.agent.cni.config import (
    NetworkConfigList,
    default_config,
    find_network_config,
    load_config_file,
    loopback_config,
    write_config,
)
from kubesmith.agent.cni.errors import CNIError, CNINotReady
from kubesmith.agent.cni.invoke import (
    Invocation,
    exec_plugin,
    find_plugin,
    plugin_config,
    supports_prev_result_on_del,
)
from kubesmith.agent.cni.leftovers import remove_tagged_rules
from kubesmith.agent.cni.result import result_ips
from kubesmith.api.types import Obj

log = logging.getLogger(__name__)

DEFAULT_CONF_DIR = Path("/etc/cni/net.d")
DEFAULT_BIN_DIRS = (Path("/opt/cni/bin"), Path("/usr/lib/cni"))
# Lexically after the usual add-on files (10-flannel.conflist, 10-calico.conflist...), so a
# network add-on deployed later takes over new pods without the agent removing anything.
DEFAULT_CONFIG_NAME = "99-kubesmith.conflist"
POD_IFNAME = "eth0"


@dataclass(frozen=True)
class PodNetwork:
    """A pod's attachment: its addresses (IPv4 first) on ``interface``."""

    ips: list[str]
    interface: str = POD_IFNAME
    network_name: str = ""
    result: Obj | None = None


class CNI:
    """CNI plugin invocation for pod sandboxes (see the module docstring)."""

    def __init__(self, *, conf_dir: Path = DEFAULT_CONF_DIR,
                 bin_dirs: Sequence[Path] = DEFAULT_BIN_DIRS, cache_dir: Path,
                 default_pod_cidr: str | Sequence[str] | None = None,
                 default_network_name: str = "kubesmith", bridge: str = "cni0",
                 ipam_data_dir: Path | None = None, plugin_timeout: float = 60.0,
                 sweep_leftovers: Callable[[str], Awaitable[None]] | None = remove_tagged_rules,
                 ) -> None:
        self.conf_dir = conf_dir
        self.bin_dirs = tuple(bin_dirs)
        self.cache = ResultCache(cache_dir)
        self.default_network_name = default_network_name
        self.bridge = bridge
        self.ipam_data_dir = ipam_data_dir
        self.plugin_timeout = plugin_timeout
        self.sweep_leftovers = sweep_leftovers
        self.pod_cidrs: tuple[str, ...] = ()
        if default_pod_cidr:
            self.set_pod_cidrs([default_pod_cidr] if isinstance(default_pod_cidr, str)
                               else default_pod_cidr)
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}

    # -- configuration --------------------------------------------------------------------

    def set_pod_cidrs(self, cidrs: Sequence[str]) -> None:
        """The node's pod CIDR(s) (``spec.podCIDRs``), used for the default network.
        A comma-separated string is accepted too."""
        flat = [part.strip() for cidr in cidrs for part in cidr.split(",") if part.strip()]
        self.pod_cidrs = tuple(flat)

    @property
    def default_config_path(self) -> Path:
        return self.conf_dir / DEFAULT_CONFIG_NAME

    def default_network(self) -> NetworkConfigList | None:
        """The built-in network on the node's pod CIDR(s), or None before one is known."""
        if not self.pod_cidrs:
            return None
        return default_config(self.pod_cidrs, name=self.default_network_name,
                              bridge=self.bridge, ipam_data_dir=self.ipam_data_dir)

    def network(self) -> NetworkConfigList:
        """The network new pods join: the conf_dir's lexically first valid file, else the
        built-in default. Raises :class:`CNINotReady` when there is neither."""
        found = find_network_config(self.conf_dir)
        if found is not None:
            return found
        default = self.default_network()
        if default is None:
            raise CNINotReady()
        return default

    def write_default_config(self) -> Path | None:
        """Write the built-in network to conf_dir unless another configuration is there.

        Returns the file written (or already up to date), None when another network's
        configuration takes precedence. Raises :class:`CNINotReady` without a pod CIDR.
        """
        default = self.default_network()
        if default is None:
            raise CNINotReady()
        found = find_network_config(self.conf_dir)
        path = self.default_config_path
        if found is not None and found.source != path:
            return None
        if found is not None:
            try:
                if load_config_file(path).to_json() == default.to_json():
                    return path
            except (OSError, ValueError):
                pass
        write_config(path, default)
        log.info("wrote default CNI configuration %s for %s", path, ", ".join(self.pod_cidrs))
        return path

    def status(self) -> str | None:
        """None when pods can be attached, else why not (for the node's Ready condition)."""
        try:
            network = self.network()
            for plugin in (*network.plugins, {"type": "loopback"}):
                find_plugin(str(plugin["type"]), self.bin_dirs)
        except CNIError as exc:
            return exc.msg
        return None

    # -- operations -----------------------------------------------------------------------

    async def add(self, *, container_id: str, netns: Path, pod_name: str, namespace: str,
                  pod_uid: str, port_mappings: Sequence[Obj] = ()) -> PodNetwork:
        """Attach the sandbox's network namespace; returns its addresses."""
        async with self._container_lock(container_id):
            network = self.network()
            args = _cni_args(container_id, pod_name, namespace, pod_uid)
            capabilities: Obj = {"portMappings": list(port_mappings)} if port_mappings else {}
            loopback = Invocation(container_id, str(netns), "lo", args, self.bin_dirs)
            await self._run_list("ADD", loopback_config(), loopback, None, {})
            invocation = Invocation(container_id, str(netns), POD_IFNAME, args, self.bin_dirs)
            try:
                result = await self._run_list("ADD", network, invocation, None, capabilities)
                ips = result_ips(result, POD_IFNAME)
                if not ips:
                    raise CNIError(f'failed to find network info for sandbox "{container_id}"')
            except CNIError:
                # Release whatever the chain set up before failing (addresses, rules).
                await self._delete_quietly(network, invocation, capabilities)
                raise
            self.cache.save(CachedAttachment(
                container_id=container_id, ifname=POD_IFNAME, netns=str(netns),
                config=network, cni_args=args, capability_args=capabilities, result=result))
            return PodNetwork(ips=ips, interface=POD_IFNAME, network_name=network.name,
                              result=result)

    async def delete(self, *, container_id: str, netns: Path | None, pod_name: str = "",
                     namespace: str = "", pod_uid: str = "") -> None:
        """Detach the sandbox; idempotent (see the module docstring)."""
        async with self._container_lock(container_id):
            entries = self.cache.find(container_id, POD_IFNAME)
            if not entries:
                try:
                    network = self.network()
                except CNINotReady:
                    network = None
                if network is not None:
                    entries = [CachedAttachment(
                        container_id=container_id, ifname=POD_IFNAME, netns="",
                        config=network,
                        cni_args=_cni_args(container_id, pod_name, namespace, pod_uid),
                        capability_args={}, result=None)]
            errors: list[CNIError] = []
            netns_gone = False
            for entry in entries:
                path = _existing_netns(netns, entry.netns)
                netns_gone = netns_gone or not path
                invocation = Invocation(container_id, path, POD_IFNAME, entry.cni_args,
                                        self.bin_dirs)
                prev = entry.result if supports_prev_result_on_del(entry.config.cni_version) \
                    else None
                errors += await self._del_list(entry.config, invocation, prev,
                                               entry.capability_args)
            if netns_gone and entries and not errors and self.sweep_leftovers is not None:
                # Without the namespace some plugins cannot find what to undo.
                await self.sweep_leftovers(container_id)
            cached_netns = entries[0].netns if entries else ""
            loopback = Invocation(container_id, _existing_netns(netns, cached_netns), "lo",
                                  _cni_args(container_id, pod_name, namespace, pod_uid),
                                  self.bin_dirs)
            errors += await self._del_list(loopback_config(), loopback, None, {})
            if errors:
                raise errors[0]
            self.cache.remove_all(container_id, POD_IFNAME)

    async def check(self, *, container_id: str, netns: Path) -> None:
        """CNI CHECK of a pod's attachment against its cached ADD result."""
        async with self._container_lock(container_id):
            entries = self.cache.find(container_id, POD_IFNAME)
            if not entries:
                raise CNIError(f'no cached CNI result for container "{container_id}"')
            for entry in entries:
                version = entry.config.cni_version
                if entry.config.disable_check or not supports_prev_result_on_del(version):
                    continue
                invocation = Invocation(container_id, str(netns), POD_IFNAME, entry.cni_args,
                                        self.bin_dirs)
                await self._run_list("CHECK", entry.config, invocation, entry.result,
                                     entry.capability_args)

    # -- plumbing -------------------------------------------------------------------------

    async def _run_list(self, command: str, network: NetworkConfigList,
                        invocation: Invocation, prev: Obj | None,
                        capabilities: Obj) -> Obj | None:
        """Run the list in order; ADD chains each result into the next plugin, CHECK hands
        every plugin the same cached result."""
        result = prev
        for plugin in network.plugins:
            conf = plugin_config(plugin, network_name=network.name,
                                 cni_version=network.cni_version, prev_result=result,
                                 capability_args=capabilities)
            output = await exec_plugin(command, conf, invocation, time_limit=self.plugin_timeout)
            if command == "ADD" and output is not None:
                result = output
        return result

    async def _del_list(self, network: NetworkConfigList, invocation: Invocation,
                        prev: Obj | None, capabilities: Obj) -> list[CNIError]:
        """DEL in reverse order; keep going past a failing plugin so the others still
        release their resources, and report the failures."""
        errors: list[CNIError] = []
        for plugin in reversed(network.plugins):
            conf = plugin_config(plugin, network_name=network.name,
                                 cni_version=network.cni_version, prev_result=prev,
                                 capability_args=capabilities)
            try:
                await exec_plugin("DEL", conf, invocation, time_limit=self.plugin_timeout)
            except CNIError as exc:
                log.warning("CNI DEL for %s: %s", invocation.container_id, exc)
                errors.append(exc)
        return errors

    async def _delete_quietly(self, network: NetworkConfigList, invocation: Invocation,
                              capabilities: Obj) -> None:
        await self._del_list(network, invocation, None, capabilities)
        lo = Invocation(invocation.container_id, invocation.netns, "lo", invocation.cni_args,
                        invocation.bin_dirs)
        await self._del_list(loopback_config(), lo, None, {})

    @asynccontextmanager
    async def _container_lock(self, container_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(container_id, asyncio.Lock())
        self._lock_users[container_id] = self._lock_users.get(container_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[container_id] -= 1
            if not self._lock_users[container_id]:
                del self._lock_users[container_id]
                del self._locks[container_id]


def _cni_args(container_id: str, pod_name: str, namespace: str,
              pod_uid: str) -> tuple[tuple[str, str], ...]:
    # The K8S_* arguments the kubelet's runtimes pass; IgnoreUnknown keeps plugins that do
    # not know them from failing.
    return (("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", namespace),
            ("K8S_POD_NAME", pod_name), ("K8S_POD_INFRA_CONTAINER_ID", container_id),
            ("K8S_POD_UID", pod_uid))


def _existing_netns(given: Path | None, cached: str) -> str:
    """The namespace path to pass on DEL: "" once it is gone (plugins then skip the
    in-namespace cleanup instead of failing to open it)."""
    for candidate in (str(given) if given else "", cached):
        if candidate and Path(candidate).exists():
            return candidate
    return ""
