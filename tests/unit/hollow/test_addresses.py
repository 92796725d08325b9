"""Fake node addresses and the per-CIDR pod address allocator."""

from __future__ import annotations

import ipaddress

import pytest

from kubesmith.hollow.addresses import (
    AddressesExhausted,
    PodIPAllocator,
    fallback_pod_cidr,
    node_internal_ip,
)


def test_node_addresses_are_unique_and_outside_pod_and_service_ranges() -> None:
    addresses = [node_internal_ip(i) for i in range(20_000)]
    assert len(set(addresses)) == len(addresses)
    assert addresses[0] == "10.128.0.1"
    for text in (addresses[0], addresses[-1]):
        ip = ipaddress.IPv4Address(text)
        assert ip in ipaddress.IPv4Network("10.128.0.0/10")
        assert ip not in ipaddress.IPv4Network("10.244.0.0/16")
        assert ip not in ipaddress.IPv4Network("10.96.0.0/12")


def test_fallback_cidrs_are_unique_for_the_first_3072_nodes() -> None:
    cidrs = [fallback_pod_cidr(i) for i in range(3072)]
    assert len(set(cidrs)) == 3072
    assert cidrs[0] == "10.244.0.0/24"
    assert cidrs[257] == "10.245.1.0/24"


def test_allocation_is_sequential_and_idempotent_per_owner() -> None:
    alloc = PodIPAllocator("10.244.3.0/24")
    assert alloc.allocate("a") == "10.244.3.2"
    assert alloc.allocate("b") == "10.244.3.3"
    assert alloc.allocate("a") == "10.244.3.2"
    assert len(alloc) == 2
    assert alloc.owner("10.244.3.3") == "b"


def test_freed_addresses_are_reused_lowest_first() -> None:
    alloc = PodIPAllocator("10.244.3.0/24")
    for owner in "abcd":
        alloc.allocate(owner)
    alloc.release("c")
    alloc.release("b")
    alloc.release("nobody")
    assert alloc.allocate("e") == "10.244.3.3"
    assert alloc.allocate("f") == "10.244.3.4"
    assert alloc.allocate("g") == "10.244.3.6"


def test_reserve_keeps_existing_addresses_out_of_new_allocations() -> None:
    alloc = PodIPAllocator("10.244.3.0/24")
    assert alloc.reserve("old", "10.244.3.5")
    assert alloc.reserve("old", "10.244.3.5")  # idempotent
    assert not alloc.reserve("other", "10.244.3.5")  # taken
    assert not alloc.reserve("x", "10.244.4.5")  # outside the CIDR
    assert not alloc.reserve("y", "10.244.3.0")  # the network address
    got = [alloc.allocate(o) for o in ("n1", "n2", "n3", "n4")]
    assert got == ["10.244.3.2", "10.244.3.3", "10.244.3.4", "10.244.3.6"]


def test_small_cidr_runs_out() -> None:
    alloc = PodIPAllocator("10.0.0.0/29")  # .2 - .6 usable
    for i in range(5):
        alloc.allocate(str(i))
    with pytest.raises(AddressesExhausted):
        alloc.allocate("one too many")
    alloc.release("2")
    assert alloc.allocate("again") == "10.0.0.4"


def test_ipv6_is_refused() -> None:
    with pytest.raises(ValueError, match="IPv4"):
        PodIPAllocator("fd00::/64")
