"""Pulling from a real registry (Debian's docker-registry on loopback): platforms, pull
policies, the registry's errors, digest checks and authentication."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kubesmith.agent.images import (
    REASON_NEVER_PULL,
    ImagePullError,
    ImageStore,
    RegistryAuth,
    credentials_from_pull_secrets,
)
from kubesmith.agent.paths import AgentPaths
from tests.support.oci_images import (
    OciIndex,
    build_busybox,
    build_image,
    digest_of,
    file_entry,
    layer_tar,
    write_oci_layout,
)
from tests.support.registry import PASSWORD, USERNAME, LoopbackRegistry

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="unpacking layers needs root")]


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    paths = AgentPaths(root=tmp_path / "root", run=tmp_path / "run", log=tmp_path / "log")
    return ImageStore(paths.images)


def marked_busybox(tmp_path: Path, marker: str, name: str = "x"):  # type: ignore[no-untyped-def]
    """A busybox image with a top layer holding /marker, as a layout directory."""
    image = build_busybox([layer_tar([file_entry("marker", marker)])])
    return image, write_oci_layout(tmp_path / f"layout-{marker}", image, name)


async def test_pull_policies(tmp_path: Path, store: ImageStore,
                             loopback_registry: LoopbackRegistry) -> None:
    first, layout = marked_busybox(tmp_path, "first")
    ref = loopback_registry.push(layout, "policies/app:1")
    with pytest.raises(ImagePullError) as never:
        await store.ensure(ref, "Never")
    assert never.value.reason == REASON_NEVER_PULL

    pulled = await store.ensure(ref, "IfNotPresent")
    assert pulled.id == first.image_id
    assert pulled.references == (ref,)
    assert pulled.repo_digests == (f"{loopback_registry.host}/policies/app@"
                                   f"{first.manifest_digest}",)
    assert pulled.layers == tuple(first.diff_ids)
    assert pulled.size == len(first.config) + sum(len(b) for b in first.layer_blobs)
    assert (store.layers.path(pulled.layers[1]) / "marker").read_text() == "first"
    assert await store.ensure(ref, "Never") == pulled

    # The tag moves to a new image: IfNotPresent keeps what is here, Always follows the tag.
    second, layout = marked_busybox(tmp_path, "second")
    loopback_registry.push(layout, "policies/app:1")
    assert await store.ensure(ref, "IfNotPresent") == pulled
    repulled = await store.ensure(ref, "Always")
    assert repulled.id == second.image_id and repulled.references == (ref,)
    assert store.lookup(ref) == repulled
    assert store.lookup(first.image_id).references == ()  # type: ignore[union-attr]
    # The shared busybox layer was stored once.
    assert len(store.layers.diff_ids()) == 3

    # Always with an unchanged image fetches manifest and config only: with every layer
    # blob in the registry corrupted it still succeeds, from the layers already here.
    with corrupted(*(loopback_registry.blob_file(digest_of(b)) for b in second.layer_blobs)):
        assert await store.ensure(ref, "Always") == repulled


@contextmanager
def corrupted(*paths: Path) -> Iterator[None]:
    """Flip a byte in the middle of registry blobs (same size), restored afterwards: the
    registry is shared by the module and blobs are shared between images."""
    originals = {path: path.read_bytes() for path in paths}
    try:
        for path, data in originals.items():
            changed = bytearray(data)
            changed[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(changed))
        yield
    finally:
        for path, data in originals.items():
            path.write_bytes(data)


async def test_index_with_several_platforms_selects_linux_amd64(
        tmp_path: Path, store: ImageStore, loopback_registry: LoopbackRegistry) -> None:
    images = {arch: build_image([layer_tar([file_entry("arch", arch)])], architecture=arch)
              for arch in ("arm64", "amd64", "arm", "s390x")}
    index = OciIndex(list(images.values()))
    layout = write_oci_layout(tmp_path / "multi", index, "multi")
    ref = loopback_registry.push(layout, "multi/arch:1", all_platforms=True)
    info = await store.pull(ref)
    assert info.id == images["amd64"].image_id
    assert info.repo_digests == (f"{loopback_registry.host}/multi/arch@"
                                 f"{index.manifest_digest}",)
    assert (store.layers.path(info.layers[0]) / "arch").read_text() == "amd64"
    # Only the chosen platform's layer was fetched.
    assert store.layers.diff_ids() == set(images["amd64"].diff_ids)
    # By digest: no tag is recorded, the repo digest names it.
    pinned = f"{loopback_registry.host}/multi/arch@{index.manifest_digest}"
    by_digest = await store.pull(pinned)
    assert by_digest.id == info.id
    assert store.lookup(pinned) == by_digest


async def test_missing_image_reports_the_registry_message(
        tmp_path: Path, store: ImageStore, loopback_registry: LoopbackRegistry) -> None:
    _, layout = marked_busybox(tmp_path, "present")
    loopback_registry.push(layout, "missing/app:1")
    ref = loopback_registry.ref("missing/app:2")
    with pytest.raises(ImagePullError) as caught:
        await store.ensure(ref, "IfNotPresent")
    assert caught.value.message == (f'failed to pull and unpack image "{ref}": failed to '
                                    f'resolve reference "{ref}": manifest unknown')
    with pytest.raises(ImagePullError, match=r"manifest unknown$"):
        await store.pull(loopback_registry.ref("no/such-repository:1"))
    assert store.list() == []


async def test_corrupted_blob_is_refused(tmp_path: Path, store: ImageStore,
                                         loopback_registry: LoopbackRegistry) -> None:
    image, layout = marked_busybox(tmp_path, "corrupt-me")
    ref = loopback_registry.push(layout, "corrupt/layer:1")
    with (corrupted(loopback_registry.blob_file(digest_of(image.layer_blobs[-1]))),
          pytest.raises(ImagePullError, match="blob digest mismatch: expected sha256:")):
        await store.pull(ref)
    assert store.list() == []
    assert image.diff_ids[-1] not in store.layers.diff_ids()
    assert list(store.blobs.tmp.iterdir()) == [] and list(store.layers.tmp.iterdir()) == []

    config_image, layout = marked_busybox(tmp_path, "corrupt-config")
    ref = loopback_registry.push(layout, "corrupt/config:1")
    with (corrupted(loopback_registry.blob_file(config_image.config_digest)),
          pytest.raises(ImagePullError, match="blob digest mismatch")):
        await store.pull(ref)

    manifest_image, layout = marked_busybox(tmp_path, "corrupt-manifest")
    ref = loopback_registry.push(layout, "corrupt/manifest:1")
    with (corrupted(loopback_registry.blob_file(manifest_image.manifest_digest)),
          pytest.raises(ImagePullError, match="manifest digest mismatch: registry says")):
        await store.pull(ref)
    assert store.list() == []


async def test_concurrent_pulls_of_one_image_share_the_work(
        tmp_path: Path, store: ImageStore, token_registry: LoopbackRegistry) -> None:
    image, layout = marked_busybox(tmp_path, "shared")
    ref = token_registry.push(layout, "concurrent/app:1")
    credentials = [RegistryAuth(server=token_registry.host, username=USERNAME,
                                password=PASSWORD)]
    token_registry.token_requests.clear()
    results = await asyncio.gather(*(store.ensure(ref, "IfNotPresent", credentials)
                                     for _ in range(5)))
    assert {r.id for r in results} == {image.image_id}
    assert len(store.list()) == 1
    # One pull did the work: it asked for one token, the others waited for its result.
    assert len(token_registry.token_requests) == 1
    assert token_registry.token_requests[0]["query"]["scope"] == ["repository:concurrent/app:pull"]


def pull_secret(server: str, username: str, password: str) -> dict[str, object]:
    config = {"auths": {server: {"username": username, "password": password}}}
    return {"metadata": {"name": "regcred"}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}


@pytest.mark.parametrize("registry_fixture", ["htpasswd_registry", "token_registry"])
async def test_authenticated_registries(tmp_path: Path, store: ImageStore,
                                        registry_fixture: str, request: pytest.FixtureRequest,
                                        caplog: pytest.LogCaptureFixture) -> None:
    registry: LoopbackRegistry = request.getfixturevalue(registry_fixture)
    image, layout = marked_busybox(tmp_path, registry.auth)
    ref = registry.push(layout, "private/app:1")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ImagePullError) as anonymous:
        await store.pull(ref)
    expected = ("authentication required" if registry.auth == "htpasswd"
                else "incorrect username or password")
    assert anonymous.value.message.endswith(expected)

    wrong = RegistryAuth(server=registry.host, username=USERNAME, password="wrong-password")
    with pytest.raises(ImagePullError) as refused:
        await store.pull(ref, [wrong])
    assert "wrong-password" not in refused.value.message

    # The kubelet tries every matching credential: the wrong one fails, the secret's works.
    credentials = [*credentials_from_pull_secrets([pull_secret(registry.host, USERNAME,
                                                               PASSWORD)]), wrong]
    info = await store.pull(ref, credentials)
    assert info.id == image.image_id
    log_text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert PASSWORD not in log_text and "wrong-password" not in log_text
    assert base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode() not in log_text
