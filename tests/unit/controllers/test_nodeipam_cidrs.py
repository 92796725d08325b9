"""The range allocator's CIDR sets: sequential blocks, wrap-around after a release, blocks
held by one node, exhaustion and bad configuration."""

from __future__ import annotations

import ipaddress

import pytest

from kubesmith.controllers.nodeipam import CidrSet, CidrSetFullError, parse_cluster_cidrs


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def test_sequential_allocation_wraps_after_release() -> None:
    cidrs = CidrSet(net("10.244.0.0/22"), 24)
    assert [str(cidrs.allocate_next(f"n{i}")) for i in range(4)] == [
        "10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
    with pytest.raises(CidrSetFullError, match="no remaining CIDRs"):
        cidrs.allocate_next("n4")
    cidrs.release(net("10.244.1.0/24"), "n1")
    assert str(cidrs.allocate_next("n4")) == "10.244.1.0/24"
    assert cidrs.used == 4


def test_next_allocation_continues_after_the_last_one() -> None:
    cidrs = CidrSet(net("10.244.0.0/16"), 24)
    cidrs.allocate_next("a")
    cidrs.release(net("10.244.0.0/24"), "a")
    # Not handed out again at once (a just-freed block may still be in use by a
    # disappearing node's pods).
    assert str(cidrs.allocate_next("b")) == "10.244.1.0/24"


def test_occupy_and_release_are_per_owner() -> None:
    cidrs = CidrSet(net("10.244.0.0/16"), 24)
    assert cidrs.occupy(net("10.244.5.0/24"), "a") == []
    assert cidrs.occupy(net("10.244.5.0/24"), "a") == []  # idempotent
    assert cidrs.occupy(net("10.244.5.0/24"), "b") == ["a"]
    cidrs.release(net("10.244.5.0/24"), "b")  # not b's: stays held
    assert cidrs.used == 1
    cidrs.release(net("10.244.5.0/24"), "a")
    assert cidrs.used == 0
    # A larger range (e.g. the service CIDR overlapping) occupies every block in it.
    cidrs.occupy(net("10.244.8.0/22"), "reserved")
    assert cidrs.used == 4
    with pytest.raises(ValueError, match="not in the cluster CIDR"):
        cidrs.occupy(net("10.9.0.0/24"), "x")


def test_dual_stack_and_bad_configuration() -> None:
    sets = parse_cluster_cidrs("10.244.0.0/16, fd00:10:244::/56", 24)
    assert [(str(s.cluster), s.mask) for s in sets] == [("10.244.0.0/16", 24),
                                                       ("fd00:10:244::/56", 64)]
    assert str(sets[1].allocate_next("n")) == "fd00:10:244::/64"
    for bad, message in (("10.244.0.0/16", "larger than"), ("10.0.0.0/8", "too big"),
                         ("10.1.0.0/16,10.2.0.0/16", "one CIDR per IP family"),
                         ("", "empty"), ("not-a-cidr", "does not appear")):
        mask = 8 if message == "larger than" else 25 if message == "too big" else 24
        with pytest.raises(ValueError, match=message):
            parse_cluster_cidrs(bad, mask)
