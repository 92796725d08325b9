"""configMap/secret payloads, memory-volume sizing and token refresh timing."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from kubesmith.agent.volumes.emptydir import memory_medium_size, pod_memory_limit
from kubesmith.agent.volumes.errors import SourceError
from kubesmith.agent.volumes.keyed import configmap_payload, default_mode, secret_payload
from kubesmith.agent.volumes.tokens import IssuedToken


def exactly(text: str) -> str:
    """A ``match=`` pattern for exactly ``text``."""
    return f"^{re.escape(text)}$"

CM = {"metadata": {"name": "app"}, "data": {"a": "1", "b": "2"},
      "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()}}
SECRET = {"metadata": {"name": "s"}, "data": {"k": base64.b64encode(b"v").decode()}}


def test_configmap_every_key_without_items() -> None:
    files = configmap_payload({"name": "app"}, CM, 0o644)
    assert {k: (f.data, f.mode) for k, f in files.items()} == {
        "a": (b"1", 0o644), "b": (b"2", 0o644), "bin": (b"\x00\x01", 0o644)}


def test_configmap_items_paths_and_modes() -> None:
    source = {"name": "app", "items": [{"key": "a", "path": "x/a.txt", "mode": 0o400},
                                       {"key": "bin", "path": "b"}]}
    files = configmap_payload(source, CM, 0o640)
    assert {k: (f.data, f.mode) for k, f in files.items()} == {
        "x/a.txt": (b"1", 0o400), "b": (b"\x00\x01", 0o640)}


def test_configmap_missing_and_optional() -> None:
    with pytest.raises(SourceError, match=exactly('configmap "app" not found')):
        configmap_payload({"name": "app"}, None, 0o644)
    assert configmap_payload({"name": "app", "optional": True}, None, 0o644) == {}
    with pytest.raises(SourceError,
                       match=exactly("configmap references non-existent config key: nope")):
        configmap_payload({"name": "app", "items": [{"key": "nope", "path": "n"}]}, CM, 0o644)
    optional_items = {"name": "app", "optional": True,
                      "items": [{"key": "nope", "path": "n"}, {"key": "a", "path": "a"}]}
    assert list(configmap_payload(optional_items, CM, 0o644)) == ["a"]


def test_secret_decoding_and_errors() -> None:
    assert secret_payload({"secretName": "s"}, "s", SECRET, 0o644)["k"].data == b"v"
    with pytest.raises(SourceError, match=exactly('secret "s" not found')):
        secret_payload({"secretName": "s"}, "s", None, 0o644)
    with pytest.raises(SourceError, match=exactly("references non-existent secret key: x")):
        secret_payload({"items": [{"key": "x", "path": "x"}]}, "s", SECRET, 0o644)


def test_default_mode() -> None:
    assert default_mode({}) == 0o644
    assert default_mode({"defaultMode": 0o400}) == 0o400


def container(name: str, memory: str | None, **extra: Any) -> dict[str, Any]:
    resources = {"limits": {"memory": memory}} if memory else {}
    return {"name": name, "resources": resources, **extra}


def test_pod_memory_limit() -> None:
    pod = {"spec": {"containers": [container("a", "100Mi"), container("b", "50Mi")],
                    "initContainers": [container("i", "300Mi"),
                                       container("side", "10Mi", restartPolicy="Always")]}}
    assert pod_memory_limit(pod) == 300 * 2**20
    pod["spec"]["initContainers"] = [container("side", "10Mi", restartPolicy="Always")]
    assert pod_memory_limit(pod) == 160 * 2**20
    pod["spec"]["containers"].append(container("unlimited", None))
    assert pod_memory_limit(pod) is None


def test_memory_medium_size_takes_the_smallest() -> None:
    limited = {"spec": {"containers": [container("a", "256Mi")]}}
    unlimited = {"spec": {"containers": [container("a", None)]}}
    node = {"memory": "1Gi"}
    assert memory_medium_size(unlimited, None, node) == 2**30
    assert memory_medium_size(limited, None, node) == 256 * 2**20
    assert memory_medium_size(limited, "16Mi", node) == 16 * 2**20
    assert memory_medium_size(unlimited, "2Gi", node) == 2**30  # never above the node


def test_token_refresh_at_80_percent_or_a_day() -> None:
    token = IssuedToken("t", issued_at=0.0, expires_at=3600.0, jitter=0.0)
    assert not token.needs_refresh(2879.0)
    assert token.needs_refresh(2881.0)
    long_lived = IssuedToken("t", issued_at=0.0, expires_at=365 * 86400.0, jitter=0.0)
    assert not long_lived.needs_refresh(86399.0)
    assert long_lived.needs_refresh(86401.0)
    jittered = IssuedToken("t", issued_at=0.0, expires_at=3600.0, jitter=10.0)
    assert jittered.needs_refresh(2875.0)
