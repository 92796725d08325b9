"""The volume manager against a real API server, as a node: configMap/secret projection
with live updates, missing objects, the ServiceAccount token volume, memory emptyDirs,
PersistentVolumeClaims, downward API, and teardown (runs as root: it mounts tmpfs)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.volumes import VolumeError, VolumeManager, mounts
from kubesmith.client import Client
from kubesmith.client.rest import (
    CONFIGMAPS,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODS,
    SECRETS,
)
from kubesmith.controllers.volume.local_provisioner import LocalPath
from tests.conftest import RunningServer
from tests.integration.agent.volumes.conftest import NODE, PodFactory, until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="volumes mount tmpfs: needs root")]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def is_dir(path: Path) -> bool:
    return path.is_dir()


def data_dir(volume: Path) -> str:
    return os.readlink(volume / "..data")


async def test_configmap_and_secret_with_live_update(volumes: VolumeManager, admin: Client,
                                                     namespace: str, pods: PodFactory) -> None:
    await admin.create(CONFIGMAPS, {"metadata": {"name": "app", "namespace": namespace},
                                    "data": {"a": "one", "b": "two"}})
    await admin.create(SECRETS, {"metadata": {"name": "creds", "namespace": namespace},
                                 "data": {"user": base64.b64encode(b"admin").decode()}})
    pod = await pods.create("web", [
        {"name": "cfg", "configMap": {"name": "app", "items": [
            {"key": "a", "path": "conf/a.txt", "mode": 0o400}, {"key": "b", "path": "b"}]}},
        {"name": "all", "configMap": {"name": "app"}},
        {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o440}},
    ], securityContext={"fsGroup": 2000})
    uid = pod["metadata"]["uid"]
    try:
        paths = await volumes.setup(pod)
        cfg, everything, sec = paths["cfg"], paths["all"], paths["sec"]
        assert cfg == volumes.paths.pod_dir(uid) / "volumes/kubernetes.io~configmap/cfg"
        assert (cfg / "conf" / "a.txt").read_text() == "one"
        assert os.readlink(cfg / "conf") == "..data/conf"
        assert mode(cfg / "conf" / "a.txt") == 0o440  # 0400 + g+r from fsGroup
        assert (cfg / "b").stat().st_gid == 2000
        assert sorted(p.name for p in everything.iterdir() if not p.name.startswith("..")) \
            == ["a", "b"]
        assert (sec / "user").read_text() == "admin"
        assert mode(sec / "user") == 0o440
        # Secrets live on tmpfs, never on the node's disk.
        assert mounts.filesystem_type(sec) == "tmpfs"

        # Nothing changed: refresh rewrites nothing.
        before = data_dir(cfg)
        await volumes.refresh(pod)
        assert data_dir(cfg) == before

        # Edit the ConfigMap: the next refresh swaps in the new content.
        await admin.patch(CONFIGMAPS, "app", {"data": {"a": "uno", "b": None}}, namespace)
        with pytest.raises(VolumeError) as err:
            await volumes.refresh(pod)  # "b" is listed in items of "cfg" and now missing
        assert err.value.message == ('MountVolume.SetUp failed for volume "cfg" : configmap '
                                     'references non-existent config key: b')
        assert (everything / "a").read_text() == "uno"
        assert not (everything / "b").exists()  # a removed key disappears
        await admin.patch(CONFIGMAPS, "app", {"data": {"b": "dos"}}, namespace)
        await volumes.refresh(pod)
        assert (cfg / "conf" / "a.txt").read_text() == "uno"
        assert data_dir(cfg) != before
        assert not (cfg / before).exists()

        # The container's view: configMap and secret mounts are read-only.
        container = pod["spec"]["containers"][0]
        assert {m.container_path: m.readonly
                for m in volumes.mounts_for(pod, container, paths)}["/mnt/cfg"] is True
    finally:
        await volumes.teardown(uid)
    assert not volumes.paths.pod_dir(uid).exists()
    assert mounts.mounts_under(volumes.paths.pods) == []


async def test_missing_objects_fail_the_mount(volumes: VolumeManager,
                                              pods: PodFactory) -> None:
    pod = await pods.create("missing", [
        {"name": "cfg", "configMap": {"name": "absent"}},
        {"name": "sec", "secret": {"secretName": "nothere"}},
        {"name": "opt", "configMap": {"name": "absent", "optional": True}},
    ])
    try:
        with pytest.raises(VolumeError) as err:
            await volumes.setup(pod)
        assert err.value.reason == "FailedMount"
        assert err.value.message == \
            'MountVolume.SetUp failed for volume "cfg" : configmap "absent" not found'
        pod["spec"]["volumes"] = pod["spec"]["volumes"][1:]
        with pytest.raises(VolumeError) as err:
            await volumes.setup(pod)
        assert err.value.cause == 'secret "nothere" not found'
        pod["spec"]["volumes"] = pod["spec"]["volumes"][1:]
        paths = await volumes.setup(pod)  # optional and absent: an empty volume
        assert [p for p in paths["opt"].iterdir() if not p.name.startswith("..")] == []
    finally:
        await volumes.teardown(pod["metadata"]["uid"])


async def test_service_account_token_volume(volumes: VolumeManager, cluster: RunningServer,
                                            namespace: str, pods: PodFactory) -> None:
    # No volumes of our own: admission adds the kube-api-access-xxxxx projected volume.
    pod = await pods.create("api", [], [])
    uid = pod["metadata"]["uid"]
    (access,) = [v["name"] for v in pod["spec"]["volumes"]
                 if v["name"].startswith("kube-api-access-")]
    try:
        paths = await until(lambda: _setup_when_ca_published(volumes, pod),
                            "kube-root-ca.crt to be published")
        volume = paths[access]
        assert mounts.filesystem_type(volume) == "tmpfs"
        assert (volume / "namespace").read_text() == namespace
        assert (volume / "ca.crt").read_text() == \
            (cluster.data_dir / "pki" / "ca.crt").read_text()
        assert mode(volume / "token") == 0o644
        token = (volume / "token").read_text()
        whoami = cluster.kubectl_as("auth", "whoami", "-o", "json", token=token)
        assert whoami.returncode == 0, whoami.stderr
        user = json.loads(whoami.stdout)["status"]["userInfo"]
        assert user["username"] == f"system:serviceaccount:{namespace}:default"
        assert user["extra"]["authentication.kubernetes.io/pod-uid"] == [uid]

        # Not due: the same token. 50 minutes later (past 80% of 3607 s): a new one.
        await volumes.refresh(pod)
        assert (volume / "token").read_text() == token
        real_clock = volumes.tokens.clock
        volumes.tokens.clock = lambda: real_clock() + 3000
        await volumes.refresh(pod)
        fresh = (volume / "token").read_text()
        assert fresh != token
        assert cluster.kubectl_as("auth", "whoami", token=fresh).returncode == 0

        mount = volumes.mounts_for(pod, pod["spec"]["containers"][0], paths)[0]
        assert (mount.container_path, mount.readonly) == \
            ("/var/run/secrets/kubernetes.io/serviceaccount", True)
    finally:
        await volumes.teardown(uid)
    assert mounts.mounts_under(volumes.paths.pods) == []


async def _setup_when_ca_published(volumes: VolumeManager,
                                   pod: dict[str, Any]) -> dict[str, Path] | None:
    try:
        return await volumes.setup(pod)
    except VolumeError as exc:
        if 'configmap "kube-root-ca.crt" not found' in exc.message:
            return None
        raise


async def test_token_follows_fs_group(volumes: VolumeManager, pods: PodFactory) -> None:
    pod = await pods.create("grouped", [], [], securityContext={"fsGroup": 3000,
                                                                 "runAsUser": 1000})
    try:
        paths = await until(lambda: _setup_when_ca_published(volumes, pod),
                            "kube-root-ca.crt to be published")
        token = next(iter(paths.values())) / "token"
        assert mode(token) == 0o640  # 0600 for the pod's user, g+r for its fsGroup
        assert (token.stat().st_uid, token.stat().st_gid) == (1000, 3000)
    finally:
        await volumes.teardown(pod["metadata"]["uid"])


async def test_memory_empty_dir_is_a_sized_tmpfs(volumes: VolumeManager,
                                                 pods: PodFactory) -> None:
    pod = await pods.create("mem", [
        {"name": "fast", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        {"name": "disk", "emptyDir": {}},
    ], automountServiceAccountToken=False)
    uid = pod["metadata"]["uid"]
    try:
        paths = await volumes.setup(pod)
        fast, disk = paths["fast"], paths["disk"]
        assert fast.name == "fast" and fast.parent.name == "kubernetes.io~empty-dir"
        assert mounts.filesystem_type(fast) == "tmpfs"
        st = os.statvfs(fast)
        assert st.f_blocks * st.f_frsize == 16 * 2**20
        assert mounts.filesystem_type(disk) is None and mode(disk) == 0o777
        await volumes.setup(pod)  # idempotent: no second tmpfs stacked
        assert mounts.mounts_under(fast) == [str(fast)]
    finally:
        await volumes.teardown(uid)
    assert not volumes.paths.pod_dir(uid).exists()
    assert mounts.mounts_under(volumes.paths.pods) == []


async def _bound_claim(admin: Client, namespace: str, claim: str,
                       volume: dict[str, Any]) -> None:
    # The claim names the volume (the binder then points the volume back at it).
    volume["spec"]["storageClassName"] = volume["spec"].get("storageClassName", "")
    await admin.create(PERSISTENTVOLUMES, volume)
    await admin.create(PERSISTENTVOLUMECLAIMS, {
        "metadata": {"name": claim, "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": volume["metadata"]["name"],
                 "storageClassName": volume["spec"]["storageClassName"],
                 "resources": {"requests": {"storage": "1Gi"}}}})

    async def bound() -> bool:
        got = await admin.get(PERSISTENTVOLUMECLAIMS, claim, namespace)
        return (got.get("status") or {}).get("phase") == "Bound"

    await until(bound, f"claim {claim} to be bound")


async def test_claim_on_host_path_volumes(volumes: VolumeManager, admin: Client,
                                          namespace: str, pods: PodFactory,
                                          tmp_path: Path) -> None:
    static_dir = tmp_path / "static"
    static_dir.mkdir()
    (static_dir / "kept").write_text("data")
    static = {"metadata": {"name": f"pv-{namespace}"},
              "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                       "hostPath": {"path": str(static_dir), "type": "Directory"}}}
    await _bound_claim(admin, namespace, "static", static)
    # Exactly the volume the local-path provisioner makes, rooted in the test's directory.
    provisioned = LocalPath(str(tmp_path / "storage")).volume_for(
        {"metadata": {"uid": "abc", "namespace": namespace, "name": "dynamic"},
         "spec": {"resources": {"requests": {"storage": "1Gi"}}}},
        {"metadata": {"name": "local-path"}, "reclaimPolicy": "Delete"}, NODE)
    provisioned["metadata"]["name"] = f"pvc-{namespace}"
    provisioned["spec"]["storageClassName"] = ""
    await _bound_claim(admin, namespace, "dynamic", provisioned)
    pod = await pods.create("db", [
        {"name": "data", "persistentVolumeClaim": {"claimName": "static", "readOnly": True}},
        {"name": "dyn", "persistentVolumeClaim": {"claimName": "dynamic"}},
    ], automountServiceAccountToken=False)
    uid = pod["metadata"]["uid"]
    try:
        paths = await volumes.setup(pod)
        assert paths["data"] == static_dir
        dyn = Path(provisioned["spec"]["hostPath"]["path"])
        assert paths["dyn"] == dyn and is_dir(dyn) and mode(dyn) == 0o777
        by_path = {m.container_path: m for m in
                   volumes.mounts_for(pod, pod["spec"]["containers"][0], paths)}
        assert by_path["/mnt/data"].readonly and not by_path["/mnt/dyn"].readonly
    finally:
        await volumes.teardown(uid)
    # Tearing the pod down keeps the claims' data.
    assert (static_dir / "kept").read_text() == "data" and is_dir(dyn)


async def test_unbound_claim(volumes: VolumeManager, admin: Client, namespace: str,
                             pods: PodFactory) -> None:
    await admin.create(PERSISTENTVOLUMECLAIMS, {
        "metadata": {"name": "pending", "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "none",
                 "resources": {"requests": {"storage": "1Gi"}}}})
    pod = await pods.create("waits", [
        {"name": "data", "persistentVolumeClaim": {"claimName": "pending"}}],
        automountServiceAccountToken=False)
    try:
        with pytest.raises(VolumeError) as err:
            await volumes.setup(pod)
        assert err.value.cause == f"error processing PVC {namespace}/pending: PVC is not bound"
    finally:
        await volumes.teardown(pod["metadata"]["uid"])


async def test_downward_api_follows_labels(volumes: VolumeManager, admin: Client,
                                           namespace: str, pods: PodFactory) -> None:
    pod = await pods.create("dapi", [{"name": "info", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "main",
                                             "resource": "limits.memory",
                                             "divisor": "1Mi"}}]}}],
        automountServiceAccountToken=False)
    uid = pod["metadata"]["uid"]
    try:
        info = (await volumes.setup(pod))["info"]
        assert (info / "labels").read_text() == ""
        assert (info / "name").read_text() == "dapi"
        assert int((info / "mem").read_text()) > 0  # no limit: the node's memory
        pod = await admin.patch(PODS, "dapi", {"metadata": {"labels": {"tier": "db"}}},
                                namespace)
        await volumes.refresh(pod)
        assert (info / "labels").read_text() == 'tier="db"'
    finally:
        await volumes.teardown(uid)


async def test_node_reads_only_its_pods_objects(volumes: VolumeManager, admin: Client,
                                                namespace: str, pods: PodFactory) -> None:
    await admin.create(CONFIGMAPS, {"metadata": {"name": "theirs", "namespace": namespace},
                                    "data": {"k": "v"}})
    pod = await pods.create("elsewhere", [{"name": "cfg", "configMap": {"name": "theirs"}}],
                            node="some-other-node", automountServiceAccountToken=False)
    try:
        with pytest.raises(VolumeError) as err:
            await volumes.setup(pod)
        assert "forbidden" in err.value.message
        assert f'no relationship found between node "{NODE}"' in err.value.message
    finally:
        await volumes.teardown(pod["metadata"]["uid"])
