"""Image reference parsing and Docker-style normalization."""

from __future__ import annotations

import pytest

from kubesmith.agent.images.reference import (
    InvalidReference,
    is_image_id,
    normalize,
    parse_reference,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("text", "normalized"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("bitnami/nginx:1.25", "docker.io/bitnami/nginx:1.25"),
    ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/team/app:v1", "localhost:5000/team/app:v1"),
    ("127.0.0.1:5000/test/bb:1", "127.0.0.1:5000/test/bb:1"),
    ("[::1]:5000/test/bb", "[::1]:5000/test/bb:latest"),
    ("Registry.Example/app", "Registry.Example/app:latest"),
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
    (f"quay.io/a/b:v2@{DIGEST}", f"quay.io/a/b:v2@{DIGEST}"),
    ("a/b/c/d:tag_with.dots-and-dashes", "docker.io/a/b/c/d:tag_with.dots-and-dashes"),
], ids=lambda v: str(v)[:40])
def test_normalizes_like_docker(text: str, normalized: str) -> None:
    assert normalize(text) == normalized


def test_parts_and_registry_api_host() -> None:
    ref = parse_reference("busybox:1")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("docker.io", "library/busybox", "1",
                                                           None)
    assert ref.api_host == "registry-1.docker.io"
    assert ref.manifest_reference == "1"
    pinned = parse_reference(f"127.0.0.1:5000/x/y:1@{DIGEST}")
    assert pinned.api_host == "127.0.0.1:5000"
    assert pinned.manifest_reference == DIGEST  # a digest wins over the tag
    assert pinned.with_digest(DIGEST) == f"127.0.0.1:5000/x/y@{DIGEST}"


@pytest.mark.parametrize(("text", "message"), [
    ("", "invalid reference format"),
    ("Busybox", "must be lowercase"),
    ("docker.io/Library/busybox", "must be lowercase"),
    ("busybox:", "bad tag"),
    ("busybox:-x", "bad tag"),
    ("busybox@sha256:abc", "unsupported digest"),
    ("busybox@md5:" + "ab" * 16, "unsupported digest"),
    ("ab" * 32, "cannot specify 64-byte hexadecimal"),
    ("a//b", "invalid reference format"),
    ("a/b_/c", "invalid reference format"),
    (" busybox", "invalid reference format"),
    ("-host.io/x", "bad registry host"),
    ("x/" + "a" * 300, "more than 255"),
])
def test_invalid_references_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        parse_reference(text)


def test_image_ids() -> None:
    assert is_image_id(DIGEST)
    assert is_image_id("ab" * 32)
    assert not is_image_id("busybox")
    assert not is_image_id("sha256:abc")
