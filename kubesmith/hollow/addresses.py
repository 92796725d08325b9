"""Fake addresses for hollow nodes and their pods.

Nothing here ever carries traffic: the addresses only have to look right to whoever reads
them (Endpoints, EndpointSlices, ``kubectl get pods -o wide``) and stay unique.

* A node's InternalIP comes from its global index in ``10.128.0.0/10`` (10.128.0.1 upward),
  which overlaps neither the default pod CIDR (10.244.0.0/16) nor the service CIDR
  (10.96.0.0/12).
* Pod IPs come from the node's ``spec.podCIDR`` (set by the node IPAM controller or by hand)
  through a :class:`PodIPAllocator` per CIDR: the lowest free address from ``.2`` upward
  (``.0`` is the network and ``.1`` is where a CNI bridge would sit), freed ones first.
* A node without a podCIDR falls back to :func:`fallback_pod_cidr`, a /24 picked from the
  node index in 10.244.0.0 - 10.255.255.0, unique for the first 3,072 nodes.
"""

from __future__ import annotations

import heapq
import ipaddress

NODE_ADDRESS_BASE = int(ipaddress.IPv4Address("10.128.0.0"))
NODE_ADDRESS_COUNT = 1 << 22  # 10.128.0.0/10
FALLBACK_FIRST_OCTET2 = 244
FALLBACK_SPAN = 12 * 256  # second octet 244..255, third octet 0..255


def node_internal_ip(index: int) -> str:
    """The fake InternalIP of the node with global ``index`` (0-based)."""
    if index < 0:
        raise ValueError("node index must not be negative")
    return str(ipaddress.IPv4Address(NODE_ADDRESS_BASE + 1 + index % (NODE_ADDRESS_COUNT - 2)))


def fallback_pod_cidr(index: int) -> str:
    """A /24 for the pods of node ``index`` when the node has no ``spec.podCIDR``."""
    slot = index % FALLBACK_SPAN
    return f"10.{FALLBACK_FIRST_OCTET2 + slot // 256}.{slot % 256}.0/24"


class AddressesExhausted(Exception):
    """Every pod address of a CIDR is in use."""


class PodIPAllocator:
    """Hands out the pod addresses of one IPv4 CIDR, one per owner (a pod UID).

    ``allocate`` is idempotent per owner; ``reserve`` records an address some pod already
    carries (after a restart of the hollow nodes), so it is not handed out twice.
    """

    def __init__(self, cidr: str) -> None:
        network = ipaddress.ip_network(cidr, strict=False)
        if not isinstance(network, ipaddress.IPv4Network):
            raise ValueError(f"only IPv4 pod CIDRs are simulated, not {cidr}")
        self.cidr = str(network)
        base = int(network.network_address)
        # Skip the network address and the gateway (.1); keep the broadcast address out.
        self._first = base + 2
        self._last = base + network.num_addresses - 2
        self._next = self._first
        self._freed: list[int] = []
        self._by_owner: dict[str, int] = {}
        self._owner_of: dict[int, str] = {}

    def __len__(self) -> int:
        """Addresses in use."""
        return len(self._by_owner)

    def __contains__(self, ip: str) -> bool:
        try:
            return self._first <= int(ipaddress.IPv4Address(ip)) <= self._last
        except ValueError:
            return False

    def owner(self, ip: str) -> str | None:
        """Who holds ``ip``, if anyone."""
        return self._owner_of.get(int(ipaddress.IPv4Address(ip)))

    def allocate(self, owner: str) -> str:
        """The address of ``owner``, allocating the lowest free one the first time."""
        held = self._by_owner.get(owner)
        if held is not None:
            return str(ipaddress.IPv4Address(held))
        address = self._take_free()
        self._by_owner[owner] = address
        self._owner_of[address] = owner
        return str(ipaddress.IPv4Address(address))

    def reserve(self, owner: str, ip: str) -> bool:
        """Record that ``owner`` already holds ``ip``; False if it is outside this CIDR or
        held by someone else (then the owner needs a fresh address)."""
        if ip not in self:
            return False
        address = int(ipaddress.IPv4Address(ip))
        holder = self._owner_of.get(address)
        if holder is not None:
            return holder == owner
        if owner in self._by_owner:
            return False
        self._by_owner[owner] = address
        self._owner_of[address] = owner
        if address >= self._next:
            # Addresses skipped over become free ones, so the sequence stays dense.
            for skipped in range(self._next, address):
                if skipped not in self._owner_of:
                    heapq.heappush(self._freed, skipped)
            self._next = address + 1
        # A reserved address still in the freed heap is skipped lazily by _take_free.
        return True

    def release(self, owner: str) -> None:
        """Give ``owner``'s address back (no-op if it holds none)."""
        address = self._by_owner.pop(owner, None)
        if address is not None:
            del self._owner_of[address]
            heapq.heappush(self._freed, address)

    def _take_free(self) -> int:
        while self._freed:
            address = heapq.heappop(self._freed)
            if address not in self._owner_of:
                return address
        if self._next > self._last:
            raise AddressesExhausted(f"no free pod address left in {self.cidr}")
        address = self._next
        self._next += 1
        return address
