"""Manifest and index documents, platform selection, registry helpers."""

from __future__ import annotations

import json

import pytest

from kubesmith.agent.images.manifests import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    Index,
    Manifest,
    ManifestError,
    parse_config,
    parse_document,
    select_platform,
)
from kubesmith.agent.images.registry import parse_challenge, uses_plain_http

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def entry(digest: str, os_name: str, arch: str, variant: str | None = None) -> dict[str, object]:
    platform = {"os": os_name, "architecture": arch}
    if variant:
        platform["variant"] = variant
    return {"mediaType": DOCKER_MANIFEST, "digest": digest, "size": 10, "platform": platform}


def test_docker_manifest_list_selects_linux_amd64() -> None:
    document = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        entry(D1, "linux", "arm64", "v8"), entry(D2, "unknown", "unknown"),
        entry(D3, "linux", "amd64")]}).encode()
    index = parse_document(document, DOCKER_LIST)
    assert isinstance(index, Index)
    assert select_platform(index, ("linux", "amd64")).digest == D3
    assert select_platform(index, ("linux", "arm64")).digest == D1
    with pytest.raises(ManifestError, match="no matching manifest for windows/amd64"):
        select_platform(index, ("windows", "amd64"))


def test_manifest_without_content_type_is_recognized_by_shape() -> None:
    document = json.dumps({"schemaVersion": 2, "config": {"digest": D1, "size": 3},
                           "layers": [{"digest": D2, "size": 5}]}).encode()
    manifest = parse_document(document)
    assert isinstance(manifest, Manifest)
    assert (manifest.config.digest, manifest.layers[0].digest, manifest.size) == (D1, D2, 8)


@pytest.mark.parametrize(("document", "message"), [
    ({"schemaVersion": 1, "fsLayers": []}, "schema 1 is not supported"),
    ({"schemaVersion": 2, "mediaType": "application/x-other"}, "unsupported manifest media"),
    ({"schemaVersion": 2, "layers": []}, "manifest has no config"),
    ({"schemaVersion": 2, "config": {"digest": "md5:abc", "size": 1}}, "malformed digest"),
    ({"schemaVersion": 2, "config": {"digest": D1}}, "no valid size"),
])
def test_bad_documents(document: object, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_document(json.dumps(document).encode())


def test_config_diff_ids() -> None:
    config, diff_ids = parse_config(json.dumps(
        {"config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": [D1, D2]}}
    ).encode())
    assert diff_ids == (D1, D2) and config["config"]["Cmd"] == ["sh"]
    with pytest.raises(ManifestError, match=r"malformed rootfs\.diff_ids"):
        parse_config(b'{"rootfs": {"diff_ids": ["nope"]}}')


def test_www_authenticate_parsing() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example/token", "service": "registry.example",
                      "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic",
                                                              {"realm": "Registry Realm"})


@pytest.mark.parametrize(("domain", "insecure", "plain"), [
    ("127.0.0.1:5000", (), True),
    ("localhost:5000", (), True),
    ("[::1]:5000", (), True),
    ("registry.example.com", (), False),
    ("10.0.0.5:5000", ("10.0.0.5:5000",), True),
    ("10.0.0.5:5000", ("10.0.0.5",), True),
    ("10.0.0.5:5000", ("10.0.0.6",), False),
])
def test_plain_http_only_for_loopback_and_listed_registries(
        domain: str, insecure: tuple[str, ...], plain: bool) -> None:
    assert uses_plain_http(domain, insecure) is plain
