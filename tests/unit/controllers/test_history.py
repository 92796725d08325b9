"""ControllerRevision helpers shared by the DaemonSet and StatefulSet controllers."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.controllers.history import (
    applied_template,
    apply_revision,
    data_hash,
    excess_revisions,
    fnv32,
    fnv32a,
    matches_template,
    next_revision_number,
    revision_name,
    safe_encode,
    sorted_revisions,
    template_hash,
    template_patch,
)

TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}


def workload(template: dict[str, Any] = TEMPLATE) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"replicas": 2, "template": template}}


def revision(name: str, number: int, created: str = "2024-01-01T00:00:00Z"
             ) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created}, "revision": number,
            "data": {}}


@pytest.mark.parametrize(("data", "fnv1", "fnv1a"), [
    (b"", 0x811C9DC5, 0x811C9DC5),
    (b"a", 0x050C5D7E, 0xE40C292C),
    (b"foobar", 0x31F0B262, 0xBF9CF968),
], ids=["empty", "a", "foobar"])
def test_fnv_matches_go_hash_fnv(data: bytes, fnv1: int, fnv1a: int) -> None:
    assert fnv32(data) == fnv1
    assert fnv32a(data) == fnv1a


def test_safe_encode_avoids_vowels_and_lookalikes() -> None:
    encoded = safe_encode("0123456789")
    assert encoded == "456789bcdf"
    assert not set("aeiou013") & set(safe_encode("".join(map(chr, range(32, 127)))))


def test_template_hash_changes_with_template_and_collision_count() -> None:
    base = template_hash(TEMPLATE, None)
    assert base == template_hash({**TEMPLATE}, None)  # content, not identity
    assert base != template_hash(TEMPLATE, 0) != template_hash(TEMPLATE, 1)
    other = {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}
    assert template_hash(other, None) != base
    assert data_hash(template_patch(workload()), 0) != data_hash(template_patch(workload()), 1)


def test_revision_data_round_trips_the_template() -> None:
    data = template_patch(workload())
    assert data == {"spec": {"template": {**TEMPLATE, "$patch": "replace"}}}
    rev = {"data": data}
    assert applied_template(rev) == TEMPLATE
    assert matches_template(workload(), rev)
    changed = workload({**TEMPLATE, "metadata": {"labels": {"app": "web", "x": "y"}}})
    assert not matches_template(changed, rev)
    restored = apply_revision(changed, rev)
    assert restored["spec"]["template"] == TEMPLATE and restored["spec"]["replicas"] == 2
    assert changed["spec"]["template"] != TEMPLATE  # the input is not modified


def test_revision_name_keeps_names_valid() -> None:
    assert revision_name("web", "abc") == "web-abc"
    assert len(revision_name("x" * 300, "abcdefgh")) == 223 + 1 + 8


def test_revisions_sort_and_number() -> None:
    revs = [revision("c", 3), revision("b2", 2, "2024-01-02T00:00:00Z"), revision("b1", 2),
            revision("a", 1)]
    assert [r["metadata"]["name"] for r in sorted_revisions(revs)] == ["a", "b1", "b2", "c"]
    assert next_revision_number(revs) == 4
    assert next_revision_number([]) == 1


@pytest.mark.parametrize(("live_counts", "limit", "expected"), [
    # DaemonSet: every old revision counts against the limit, live ones are skipped.
    (True, 2, ["r2", "r3"]),
    # StatefulSet: only the non-live ones count.
    (False, 2, ["r2"]),
    (False, 3, []),
    (True, -1, []),
], ids=["daemonset", "statefulset", "statefulset-within-limit", "negative-limit"])
def test_excess_revisions(live_counts: bool, limit: int, expected: list[str]) -> None:
    old = [revision(f"r{i}", i) for i in (4, 1, 3, 2)]
    excess = excess_revisions(old, limit, lambda r: r["metadata"]["name"] == "r1",
                              live_counts=live_counts)
    assert [r["metadata"]["name"] for r in excess] == expected
