"""Services: ClusterIP and NodePort allocation.

Each allocated address or port is a key in the datastore (``/registry/allocations/
clusterips/<ip>``, ``/registry/allocations/nodeports/<proto>/<port>``), taken with an
atomic create — the same compare-and-swap the datastore gives every write, so two API
servers sharing one etcd can never hand out the same address (upstream's IPAddress
objects work the same way). Allocation happens after validation and before the Service is
written; if the write fails the allocation is released. A repair pass at start-up frees
allocations no Service holds (a crash between the two writes).
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
from dataclasses import dataclass
from typing import Any

from kubesmith.api import errors
from kubesmith.api.store import ResourceStore
from kubesmith.api.types import Obj
from kubesmith.storage.interface import KeyExistsError, KeyNotFoundError, Store

IP_PREFIX = "/registry/allocations/clusterips/"
PORT_PREFIX = "/registry/allocations/nodeports/"
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_PORTS = (30000, 32767)
_NO_IP = ("", "None")


@dataclass(frozen=True, slots=True)
class ServiceNetwork:
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    node_ports: tuple[int, int] = DEFAULT_NODE_PORTS

    @classmethod
    def parse(cls, cidr: str = DEFAULT_SERVICE_CIDR,
              node_ports: tuple[int, int] = DEFAULT_NODE_PORTS) -> ServiceNetwork:
        return cls(ipaddress.ip_network(cidr, strict=True), node_ports)

    @property
    def kubernetes_ip(self) -> str:
        """The first address, reserved for the ``kubernetes`` Service (upstream)."""
        return str(self.cidr.network_address + 1)

    @property
    def family(self) -> str:
        return "IPv4" if self.cidr.version == 4 else "IPv6"


class Allocator:
    def __init__(self, store: Store, network: ServiceNetwork) -> None:
        self.store = store
        self.network = network

    async def _take(self, key: str) -> bool:
        try:
            await self.store.create(key, b"{}")
        except KeyExistsError:
            return False
        return True

    async def release_key(self, key: str) -> None:
        with contextlib.suppress(KeyNotFoundError):
            await self.store.delete(key)

    # ---- cluster IPs -------------------------------------------------------------------
    async def allocate_ip(self, requested: str) -> str:
        net = self.network.cidr
        if requested:
            try:
                ip = ipaddress.ip_address(requested)
            except ValueError:
                raise _invalid_ip(requested, "must be a valid IP address") from None
            if ip not in net or ip in (net.network_address, net.broadcast_address):
                raise _invalid_ip(requested, f"failed to allocate IP {requested}: the provided "
                                  f"IP ({requested}) is not in the valid range. The range of "
                                  f"valid IPs is {net}")
            if not await self._take(IP_PREFIX + str(ip)):
                raise _invalid_ip(requested, f"failed to allocate IP {requested}: provided IP "
                                  "is already allocated")
            return str(ip)
        size = net.num_addresses
        # Random probing, like upstream's bitmap allocator's random scan: O(1) expected
        # while the range is mostly free. The first address is the kubernetes Service's.
        for _ in range(64):
            offset = random.randrange(2, size - 1)
            candidate = str(net.network_address + offset)
            if await self._take(IP_PREFIX + candidate):
                return candidate
        raise errors.StatusError(500, "InternalError",
                                 "Internal error occurred: failed to allocate a serviceIP: "
                                 "range is full")

    # ---- node ports --------------------------------------------------------------------
    def _port_key(self, protocol: str, port: int) -> str:
        return f"{PORT_PREFIX}{protocol.lower()}/{port}"

    async def allocate_port(self, index: int, protocol: str, requested: int | None) -> int:
        low, high = self.network.node_ports
        if requested:
            if not low <= requested <= high:
                raise errors.invalid_object("Service", "", [errors.invalid(
                    f"spec.ports[{index}].nodePort", requested,
                    f"provided port is not in the valid range. The range of valid ports is "
                    f"{low}-{high}")])
            if not await self._take(self._port_key(protocol, requested)):
                raise errors.invalid_object("Service", "", [errors.invalid(
                    f"spec.ports[{index}].nodePort", requested,
                    "provided port is already allocated")])
            return requested
        for _ in range(64):
            port = random.randint(low, high)
            if await self._take(self._port_key(protocol, port)):
                return port
        raise errors.StatusError(500, "InternalError",
                                 "Internal error occurred: failed to allocate a nodePort: "
                                 "range is full")

    async def release_service(self, svc: Obj, keep: Obj | None = None) -> None:
        """Free what ``svc`` holds and ``keep`` (its successor) does not."""
        kept = holdings(keep) if keep else set()
        for key in holdings(svc) - kept:
            await self.release_key(key)


def holdings(svc: Obj) -> set[str]:
    """The allocation keys a Service holds."""
    spec = svc.get("spec") or {}
    keys = {IP_PREFIX + ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]
            if ip and ip not in _NO_IP}
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and port.get("nodePort"):
            keys.add(f"{PORT_PREFIX}{str(port.get('protocol', 'TCP')).lower()}/"
                     f"{port['nodePort']}")
    return keys


def _invalid_ip(value: str, detail: str) -> errors.StatusError:
    return errors.invalid_object("Service", "", [errors.invalid("spec.clusterIPs", [value],
                                                                detail)])


def _needs_node_ports(spec: dict[str, Any]) -> bool:
    if spec.get("type") == "NodePort":
        return True
    return spec.get("type") == "LoadBalancer" and \
        spec.get("allocateLoadBalancerNodePorts", True) is not False


class ServiceStore(ResourceStore):
    """The generic store plus address and port allocation around each write."""

    allocator: Allocator

    async def before_write(self, new: Obj, old: Obj | None, dry_run: bool) -> None:
        spec = new.setdefault("spec", {})
        stype = spec.get("type", "ClusterIP")
        old_spec = (old or {}).get("spec") or {}
        if stype == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            for p in spec.get("ports") or []:
                p.pop("nodePort", None)
            return
        if old is not None and old_spec.get("clusterIP"):
            # clusterIP is immutable once set (validation reports a change).
            spec.setdefault("clusterIP", old_spec.get("clusterIP"))
            spec.setdefault("clusterIPs", old_spec.get("clusterIPs"))
        requested = spec.get("clusterIP") or ""
        if requested == "None":
            spec["clusterIPs"] = ["None"]
        elif old is None or not old_spec.get("clusterIP"):
            ip = requested if dry_run else await self.allocator.allocate_ip(requested)
            spec["clusterIP"] = ip or requested
            spec["clusterIPs"] = [spec["clusterIP"]] if spec["clusterIP"] else []
        if spec.get("clusterIP"):  # an address or "None" (headless): both are single-stack
            spec.setdefault("ipFamilies", [self.allocator.network.family])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        old_ports = {(str(p.get("protocol", "TCP")), p.get("nodePort"))
                     for p in old_spec.get("ports") or [] if p.get("nodePort")}
        if _needs_node_ports(spec):
            for i, port in enumerate(spec.get("ports") or []):
                proto = str(port.get("protocol", "TCP"))
                want = port.get("nodePort")
                if want and (proto, want) in old_ports:
                    continue
                if dry_run:
                    continue
                port["nodePort"] = await self.allocator.allocate_port(i, proto, want)
        else:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)

    async def after_write_failed(self, new: Obj, old: Obj | None) -> None:
        await self.allocator.release_service(new, keep=old)

    async def after_write(self, new: Obj, old: Obj | None) -> None:
        if old is not None:
            await self.allocator.release_service(old, keep=new)

    async def after_delete(self, old: Obj) -> None:
        await self.allocator.release_service(old)

    async def repair(self) -> int:
        """Free allocations no Service holds; returns how many were freed."""
        await self.cache.wait_consistent()
        held: set[str] = set()
        for cached in self.cache.objects.values():
            held |= holdings(cached.obj)
        freed = 0
        for prefix in (IP_PREFIX, PORT_PREFIX):
            page = await self.store.list(prefix)
            for kv in page.kvs:
                if kv.key not in held:
                    await self.allocator.release_key(kv.key)
                    freed += 1
        return freed
