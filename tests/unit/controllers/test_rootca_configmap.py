"""What the root CA publisher writes, and what it leaves alone."""

from __future__ import annotations

from kubesmith.controllers.rootca import DESCRIPTION, corrected, is_active, wanted_configmap

CA = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"


def test_fresh_configmap_needs_nothing() -> None:
    assert corrected(wanted_configmap("ns", CA), CA) is None


def test_foreign_description_is_kept_but_data_restored() -> None:
    cm = wanted_configmap("ns", CA)
    cm["metadata"]["annotations"]["kubernetes.io/description"] = "ours"
    assert corrected(cm, CA) is None
    cm["data"] = {"ca.crt": "old", "extra": "x"}
    cm["binaryData"] = {"b": "AA=="}
    cm["metadata"]["annotations"]["team"] = "blue"
    fixed = corrected(cm, CA)
    assert fixed is not None
    assert fixed["data"] == {"ca.crt": CA} and "binaryData" not in fixed
    assert fixed["metadata"]["annotations"] == {"kubernetes.io/description": DESCRIPTION,
                                                "team": "blue"}
    assert cm["data"]["ca.crt"] == "old"  # the cached object is not touched


def test_missing_annotation_is_restored() -> None:
    cm = wanted_configmap("ns", CA)
    cm["metadata"]["annotations"] = None
    fixed = corrected(cm, CA)
    assert fixed is not None
    assert fixed["metadata"]["annotations"] == {"kubernetes.io/description": DESCRIPTION}


def test_terminating_namespaces_are_not_active() -> None:
    assert is_active({"metadata": {"name": "a"}, "status": {"phase": "Active"}})
    assert not is_active({"metadata": {"name": "a"}, "status": {"phase": "Terminating"}})
    assert not is_active({"metadata": {"name": "a", "deletionTimestamp": "2025-01-01T00:00:00Z"}})
