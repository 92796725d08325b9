"""imagePullSecrets → registry credentials, and which credentials apply to an image."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from kubesmith.agent.images.credentials import (
    RegistryAuth,
    credentials_from_pull_secrets,
    matching_credentials,
)
from kubesmith.agent.images.reference import parse_reference


def secret(kind: str, key: str, document: Any, name: str = "pull") -> dict[str, Any]:
    raw = base64.b64encode(json.dumps(document).encode()).decode()
    return {"metadata": {"name": name}, "type": kind, "data": {key: raw}}


def test_dockerconfigjson_and_dockercfg() -> None:
    auth = base64.b64encode(b"bob:p:w").decode()
    found = credentials_from_pull_secrets([
        secret("kubernetes.io/dockerconfigjson", ".dockerconfigjson", {"auths": {
            "registry.example.com": {"username": "alice", "password": "pw1"},
            "https://index.docker.io/v1/": {"auth": auth},
            "ghcr.io": {"identitytoken": "refresh-me"},
        }}),
        secret("kubernetes.io/dockercfg", ".dockercfg",
               {"127.0.0.1:5000": {"username": "u", "password": "p"}}),
        {"metadata": {"name": "opaque"}, "type": "Opaque", "data": {"x": "eA=="}},
    ])
    assert [(a.server, a.username, a.password, a.identity_token) for a in found] == [
        ("registry.example.com", "alice", "pw1", ""),
        ("https://index.docker.io/v1/", "bob", "p:w", ""),
        ("ghcr.io", "", "", "refresh-me"),
        ("127.0.0.1:5000", "u", "p", ""),
    ]


def test_secrets_never_show_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    auth = RegistryAuth(server="r.io", username="alice", password="hunter2",
                        identity_token="tok3n")
    assert "hunter2" not in repr(auth) and "tok3n" not in repr(auth)
    broken = {"metadata": {"name": "broken"}, "type": "kubernetes.io/dockerconfigjson",
              "data": {".dockerconfigjson": base64.b64encode(b"{hunter2").decode()}}
    with caplog.at_level(logging.DEBUG):
        assert credentials_from_pull_secrets([broken]) == []
    assert "broken" in caplog.text and "hunter2" not in caplog.text


@pytest.mark.parametrize(("server", "image", "applies"), [
    ("registry.example.com", "registry.example.com/app:1", True),
    ("https://registry.example.com", "registry.example.com/team/app", True),
    ("registry.example.com", "other.example.com/app", False),
    ("registry.example.com:5000", "registry.example.com/app", False),
    ("registry.example.com:5000", "registry.example.com:5000/app", True),
    ("registry.example.com/team", "registry.example.com/team/app", True),
    ("registry.example.com/team", "registry.example.com/teamx/app", False),
    ("registry.example.com/team", "registry.example.com/other/app", False),
    ("*.example.com", "eu.example.com/app", True),
    ("*.example.com", "example.com/app", False),
    ("*.example.com", "a.b.example.com/app", False),
    ("https://index.docker.io/v1/", "busybox", True),
    ("docker.io", "library/busybox", True),
    ("docker.io", "quay.io/busybox", False),
])
def test_matching(server: str, image: str, applies: bool) -> None:
    assert RegistryAuth(server=server, username="u").matches(parse_reference(image)) is applies


def test_most_specific_credentials_come_first() -> None:
    auths = [RegistryAuth(server="*.example.com"), RegistryAuth(server="r.example.com"),
             RegistryAuth(server="r.example.com/team/app"), RegistryAuth(server="other.io")]
    ordered = matching_credentials(auths, parse_reference("r.example.com/team/app:1"))
    assert [a.server for a in ordered] == ["r.example.com/team/app", "r.example.com",
                                           "*.example.com"]
