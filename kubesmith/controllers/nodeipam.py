"""Node IPAM with the range allocator (upstream's ``nodeipam`` controller,
``--allocate-node-cidrs``): every Node without ``spec.podCIDRs`` gets the next free block of
``--node-cidr-mask-size`` from each ``--cluster-cidr`` (one per IP family), patched into
``spec.podCIDR`` and ``spec.podCIDRs``.

State: one :class:`CidrSet` per cluster CIDR, the blocks in use and the Node holding each.
It lives only in memory and is rebuilt from the Node cache before the first allocation
(:meth:`NodeIpamController.started`), so a restart never hands out a block twice. A deleted
Node's blocks are released (and Nodes waiting for a block are retried). When the range is
exhausted the Node gets a ``CIDRNotAvailable`` event and is retried with exponential
backoff, never in a hot loop. ``spec.podCIDRs`` is immutable once set, so a Node that got
its CIDRs elsewhere keeps them and we only mark them used.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, RetryLater
from kubesmith.client.rest import NODES
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.nodelifecycle.nodes import record_node_status_change
from kubesmith.controllers.util import is_terminating, meta

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Upstream limits a cluster CIDR to 2^16 node blocks.
MAX_SUBNET_BITS = 16
#: ``--node-cidr-mask-size-ipv6`` default (our options carry only the IPv4 size).
DEFAULT_IPV6_MASK = 64


class CidrSetFullError(RetryLater):
    """No free block left in a cluster CIDR."""


class CidrSet:
    """The node-sized blocks of one cluster CIDR and who holds them. Allocation continues
    after the last block handed out (wrapping around), as upstream, so a just-released block
    is not reused at once."""

    def __init__(self, cluster: IPNetwork, mask: int) -> None:
        if mask < cluster.prefixlen:
            raise ValueError(f"node CIDR mask /{mask} is larger than the cluster CIDR "
                             f"{cluster}")
        if mask - cluster.prefixlen > MAX_SUBNET_BITS:
            raise ValueError(f"subnet mask size too big for {cluster}: /{mask} gives more "
                             f"than 2^{MAX_SUBNET_BITS} node CIDRs")
        self.cluster = cluster
        self.mask = mask
        self.size = 1 << (mask - cluster.prefixlen)
        self._step = 1 << (cluster.max_prefixlen - mask)
        self._base = int(cluster.network_address)
        self._owners: dict[int, str] = {}
        self._next = 0

    @property
    def used(self) -> int:
        """How many blocks are held."""
        return len(self._owners)

    def block(self, index: int) -> IPNetwork:
        """The ``index``-th block."""
        return ipaddress.ip_network((self._base + index * self._step, self.mask))

    def _indexes(self, cidr: IPNetwork) -> range:
        if cidr.version != self.cluster.version or not (
                cidr.subnet_of(self.cluster) or self.cluster.subnet_of(cidr)):  # type: ignore[arg-type]
            raise ValueError(f"{cidr} is not in the cluster CIDR {self.cluster}")
        first = max(int(cidr.network_address), self._base)
        last = min(int(cidr.broadcast_address), int(self.cluster.broadcast_address))
        return range((first - self._base) // self._step, (last - self._base) // self._step + 1)

    def allocate_next(self, owner: str) -> IPNetwork:
        """Hand the next free block to ``owner``."""
        for offset in range(self.size):
            index = (self._next + offset) % self.size
            if index not in self._owners:
                self._owners[index] = owner
                self._next = (index + 1) % self.size
                return self.block(index)
        raise CidrSetFullError(f"CIDR allocation failed; there are no remaining CIDRs left to "
                               f"allocate in the accepted range {self.cluster}")

    def occupy(self, cidr: IPNetwork, owner: str) -> list[str]:
        """Mark ``cidr`` held by ``owner``; returns other owners that held part of it."""
        clashes: list[str] = []
        for index in self._indexes(cidr):
            holder = self._owners.setdefault(index, owner)
            if holder != owner:
                clashes.append(holder)
        return clashes

    def release(self, cidr: IPNetwork, owner: str) -> None:
        """Free the blocks of ``cidr`` that ``owner`` holds."""
        for index in self._indexes(cidr):
            if self._owners.get(index) == owner:
                del self._owners[index]


def parse_cluster_cidrs(cluster_cidr: str, ipv4_mask: int) -> list[CidrSet]:
    """``--cluster-cidr`` (comma-separated, at most one per family) as CIDR sets."""
    sets: list[CidrSet] = []
    for text in (part.strip() for part in cluster_cidr.split(",")):
        if not text:
            continue
        network = ipaddress.ip_network(text, strict=False)
        mask = ipv4_mask if network.version == 4 else DEFAULT_IPV6_MASK
        sets.append(CidrSet(network, mask))
    if not sets:
        raise ValueError("--cluster-cidr is empty")
    if len(sets) > 2 or len({s.cluster.version for s in sets}) != len(sets):
        raise ValueError(f"--cluster-cidr {cluster_cidr!r}: at most one CIDR per IP family")
    return sets


def _pod_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = [str(c) for c in spec.get("podCIDRs") or () if c]
    if not cidrs and spec.get("podCIDR"):
        cidrs = [str(spec["podCIDR"])]
    return cidrs


class NodeIpamController(Controller):
    name = "node-controller"  # upstream runs node IPAM as the node-controller account
    component = "cidrAllocator"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.nodes = self.informer(NODES)
        self.sets: list[CidrSet] = []
        self.config_error = ""
        if self.options.allocate_node_cidrs:
            try:
                self.sets = parse_cluster_cidrs(self.options.cluster_cidr,
                                                self.options.node_cidr_mask_size)
            except ValueError as exc:
                self.config_error = str(exc)
            self.nodes.add_handlers(on_add=self.enqueue,
                                    on_update=lambda _old, new: self.enqueue(new),
                                    on_delete=self._node_deleted)

    @property
    def active(self) -> bool:
        """Whether this controller allocates at all."""
        return bool(self.sets) and self.options.allocate_node_cidrs

    async def started(self) -> None:
        if self.config_error:
            log.error("node IPAM disabled: %s", self.config_error)
            return
        # Every block already handed out, before the first allocation.
        for node in self.nodes.list():
            self._occupy(node)

    def _occupy(self, node: Obj) -> None:
        name = str(meta(node).get("name"))
        for index, text in enumerate(_pod_cidrs(node)):
            if index >= len(self.sets):
                log.error("node %s has pod CIDR %s beyond the configured cluster CIDRs",
                          name, text)
                continue
            try:
                clashes = self.sets[index].occupy(ipaddress.ip_network(text, strict=False),
                                                  name)
            except ValueError as exc:
                log.warning("node %s: pod CIDR %s: %s", name, text, exc)
                continue
            if clashes:
                log.error("node %s has pod CIDR %s, already held by %s", name, text,
                          ", ".join(sorted(set(clashes))))

    def _release(self, node: Obj) -> None:
        name = str(meta(node).get("name"))
        for index, text in enumerate(_pod_cidrs(node)[:len(self.sets)]):
            try:
                self.sets[index].release(ipaddress.ip_network(text, strict=False), name)
            except ValueError:
                continue

    def _node_deleted(self, node: Obj) -> None:
        if not self.active:
            return
        self._release(node)
        # Nodes waiting for a block may get this one now.
        for waiting in self.nodes.list():
            if not _pod_cidrs(waiting):
                self.enqueue(waiting)

    async def reconcile(self, key: str) -> None:
        if not self.active:
            return
        node = self.nodes.get(key)
        if node is None:
            return
        if is_terminating(node):
            self._release(node)
            return
        if _pod_cidrs(node):
            self._occupy(node)
            return
        allocated: list[IPNetwork] = []
        try:
            for cidr_set in self.sets:
                allocated.append(cidr_set.allocate_next(key))
        except CidrSetFullError:
            self._free(allocated, key)
            record_node_status_change(self.recorder, node, "CIDRNotAvailable", "Warning")
            raise
        cidrs = [str(c) for c in allocated]
        patch: dict[str, Any] = {"spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs}}
        try:
            await self.client.patch(NODES, key, patch)
        except ApiError as exc:
            self._free(allocated, key)
            if exc.code == 404:
                return
            if exc.code == 422:
                # Someone set the CIDRs first (they are immutable); the update event that
                # follows makes us record theirs.
                log.info("node %s: pod CIDRs set elsewhere: %s", key, exc.message)
            record_node_status_change(self.recorder, node, "CIDRAssignmentFailed", "Warning")
            raise
        log.info("set node %s pod CIDRs %s", key, ", ".join(cidrs))

    def _free(self, allocated: list[IPNetwork], owner: str) -> None:
        for cidr_set, cidr in zip(self.sets, allocated, strict=False):
            cidr_set.release(cidr, owner)
