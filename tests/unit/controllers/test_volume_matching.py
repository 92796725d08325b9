"""Which volume a claim binds to (pure rules)."""

from __future__ import annotations

from typing import Any

from kubesmith.controllers.volume.matching import find_matching_volume, mismatch, storage_bytes


def pv(name: str, size: str, **spec: Any) -> dict[str, Any]:
    labels = spec.pop("labels", {})
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     **spec}, "status": {"phase": "Available"}}


def pvc(size: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "c", "namespace": "ns", "uid": "u1"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": size}}, **spec}}


def test_storage_bytes() -> None:
    assert storage_bytes("1Gi") == 1 << 30
    assert storage_bytes("1.5k") == 1500
    assert storage_bytes("nonsense") is None


def test_smallest_fit_wins_and_prebinding_beats_it() -> None:
    volumes = [pv("big", "10Gi"), pv("fit", "2Gi"), pv("small", "1Mi")]
    assert find_matching_volume(pvc("1Gi"), volumes)["metadata"]["name"] == "fit"
    reserved = pv("reserved", "50Gi", claimRef={"namespace": "ns", "name": "c"})
    assert find_matching_volume(pvc("1Gi"), [*volumes, reserved])["metadata"]["name"] == \
        "reserved"
    taken = pv("taken", "2Gi", claimRef={"namespace": "ns", "name": "other", "uid": "x"})
    assert find_matching_volume(pvc("1Gi"), [taken]) is None


def test_every_mismatch_is_named() -> None:
    claim = pvc("1Gi", storageClassName="fast", selector={"matchLabels": {"a": "b"}})
    assert mismatch(pv("v", "1Gi"), claim) == "storage class differs"
    assert mismatch(pv("v", "1Gi", storageClassName="fast"), claim) == \
        "labels not selected"
    good = pv("v", "1Gi", storageClassName="fast", labels={"a": "b"})
    assert mismatch(good, claim) is None
    assert mismatch(pv("v", "1Gi", storageClassName="fast", labels={"a": "b"},
                       accessModes=["ReadOnlyMany"]), claim) == "access modes not offered"
    assert mismatch(pv("v", "1Gi", storageClassName="fast", labels={"a": "b"},
                       volumeMode="Block"), claim) == "volume mode differs"
    assert mismatch(pv("v", "512Mi", storageClassName="fast", labels={"a": "b"}), claim) == \
        "too small"
    released = pv("r", "5Gi")
    released["status"]["phase"] = "Released"
    assert find_matching_volume(pvc("1Gi"), [released]) is None
