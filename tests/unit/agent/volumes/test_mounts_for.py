"""Container mounts from volumeMounts (read-only rules, propagation, errors) and pod
directory removal (runs as root where it mounts)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.volumes import VolumeError, VolumeManager, mounts
from kubesmith.agent.volumes.manager import fs_user_of, remove_pod_dir
from kubesmith.client import Client, ClientConfig


def exactly(text: str) -> str:
    """A ``match=`` pattern for exactly ``text``."""
    return f"^{re.escape(text)}$"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


@pytest.fixture
def manager(tmp_path: Path) -> VolumeManager:
    # mounts_for never calls the API; the client is never used.
    client = Client(ClientConfig("https://127.0.0.1:1", False))
    return VolumeManager(AgentPaths(root=tmp_path / "root", run=tmp_path / "run",
                                    log=tmp_path / "log"), client, node_name="n1")


def pod(*mounts_: dict[str, Any], privileged: bool = False) -> dict[str, Any]:
    return {"metadata": {"uid": "uid-1", "name": "p", "namespace": "ns"},
            "spec": {"volumes": [
                {"name": "cm", "configMap": {"name": "x"}},
                {"name": "tok", "projected": {"sources": []}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "host", "hostPath": {"path": "/tmp"}},
                {"name": "claim", "persistentVolumeClaim": {"claimName": "c",
                                                            "readOnly": True}},
            ], "containers": [{"name": "c", "volumeMounts": list(mounts_),
                               "securityContext": {"privileged": privileged}}]}}


PATHS = {"cm": Path("/v/cm"), "tok": Path("/v/tok"), "scratch": Path("/v/s"),
         "host": Path("/tmp"), "claim": Path("/data/c")}


def test_read_only_and_propagation(manager: VolumeManager) -> None:
    p = pod({"name": "cm", "mountPath": "/etc/cm"},
            {"name": "tok", "mountPath": "/var/run/secrets/x", "readOnly": True},
            {"name": "scratch", "mountPath": "/scratch"},
            {"name": "host", "mountPath": "/host", "mountPropagation": "HostToContainer"},
            {"name": "claim", "mountPath": "/data", "mountPropagation": "None"},
            privileged=True)
    result = manager.mounts_for(p, p["spec"]["containers"][0], PATHS)
    assert [(m.host_path, m.container_path, m.readonly, m.propagation) for m in result] == [
        ("/v/cm", "/etc/cm", True, "private"),      # configMap: always read-only
        ("/v/tok", "/var/run/secrets/x", True, "private"),
        ("/v/s", "/scratch", False, "private"),
        ("/tmp", "/host", False, "rslave"),
        ("/data/c", "/data", True, "private"),      # claim readOnly
    ]


def test_bidirectional_needs_privileged(manager: VolumeManager) -> None:
    mount = {"name": "host", "mountPath": "/h", "mountPropagation": "Bidirectional"}
    p = pod(mount, privileged=True)
    assert manager.mounts_for(p, p["spec"]["containers"][0], PATHS)[0].propagation == \
        "rshared"
    p = pod(mount)
    with pytest.raises(VolumeError) as err:
        manager.mounts_for(p, p["spec"]["containers"][0], PATHS)
    assert err.value.reason == "CreateContainerConfigError"
    assert "only to privileged containers" in err.value.message


def test_unknown_volume(manager: VolumeManager) -> None:
    p = pod({"name": "ghost", "mountPath": "/g"})
    with pytest.raises(VolumeError) as err:
        manager.mounts_for(p, p["spec"]["containers"][0], PATHS)
    assert err.value.message == 'cannot find volume "ghost" to mount into container "c"'


def test_subpath_errors_are_container_config_errors(manager: VolumeManager) -> None:
    p = pod({"name": "scratch", "mountPath": "/x", "subPathExpr": "$(MISSING)"},
            {"name": "scratch", "mountPath": "/y", "subPath": "/abs"})
    c = p["spec"]["containers"][0]
    with pytest.raises(VolumeError, match=exactly("missing value for MISSING")):
        manager.mounts_for(p, c, PATHS)
    c["volumeMounts"] = c["volumeMounts"][1:]
    with pytest.raises(VolumeError, match="must not be an absolute path"):
        manager.mounts_for(p, c, PATHS)


@needs_root
def test_subpath_expr_binds_under_the_pod_dir(manager: VolumeManager, tmp_path: Path) -> None:
    volume = tmp_path / "scratch"
    volume.mkdir()
    p = pod({"name": "scratch", "mountPath": "/logs", "subPathExpr": "$(POD)/logs"})
    try:
        result = manager.mounts_for(p, p["spec"]["containers"][0],
                                    {**PATHS, "scratch": volume}, [("POD", "p-0")])
        target = manager.paths.pod_dir("uid-1") / "volume-subpaths" / "scratch" / "c" / "0"
        assert result[0].host_path == str(target)
        assert (volume / "p-0" / "logs").is_dir()
        assert mounts.is_mount_point(target)
        remove_pod_dir(manager.paths.pod_dir("uid-1"))
        assert not manager.paths.pod_dir("uid-1").exists()
        assert (volume / "p-0" / "logs").is_dir()  # the volume's data is untouched
    finally:
        for point in mounts.mounts_under(tmp_path):
            mounts.unmount(Path(point))


@needs_root
def test_remove_pod_dir_unmounts_tmpfs(tmp_path: Path) -> None:
    pod_dir = tmp_path / "pod"
    tmpfs = pod_dir / "volumes" / "kubernetes.io~secret" / "s"
    tmpfs.mkdir(parents=True)
    try:
        mounts.mount_tmpfs(tmpfs, 1 << 20)
        (tmpfs / "key").write_text("secret")
        remove_pod_dir(pod_dir)
        assert not pod_dir.exists()
        assert mounts.mounts_under(tmp_path) == []
    finally:
        for point in mounts.mounts_under(tmp_path):
            mounts.unmount(Path(point))


def test_fs_user_is_the_common_run_as_user() -> None:
    spec: dict[str, Any] = {"securityContext": {"runAsUser": 1000},
                            "containers": [{"name": "a"}, {"name": "b"}]}
    assert fs_user_of({"spec": spec}) == 1000
    spec["containers"][1]["securityContext"] = {"runAsUser": 2000}
    assert fs_user_of({"spec": spec}) is None
    assert fs_user_of({"spec": {"containers": [{"name": "a"}]}}) is None
