"""The OCI config built for a container: capabilities, privileges, mounts, namespaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.runtime.oci_spec import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    MASKED_PATHS,
    READONLY_PATHS,
    Device,
    build_oci_spec,
    capabilities,
)
from kubesmith.agent.runtime.spec import Mount
from kubesmith.agent.runtime.user import ResolvedUser
from tests.unit.agent.runtime.helpers import make_sandbox, make_spec

ROOT = ResolvedUser(uid=0, gid=0, additional_gids=(0,))


def build(**overrides: Any) -> dict[str, Any]:
    sandbox = overrides.pop("sandbox", make_sandbox())
    return build_oci_spec(make_spec(**overrides), sandbox, ROOT, container_id="c" * 64)


def by_destination(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["destination"]: m for m in config["mounts"]}


@pytest.mark.parametrize(("security", "added", "removed"), [
    pytest.param(None, set(), set(), id="default"),
    pytest.param({"capabilities": {"add": ["NET_ADMIN"]}}, {"CAP_NET_ADMIN"}, set(), id="add"),
    pytest.param({"capabilities": {"add": ["CAP_SYS_TIME"]}}, {"CAP_SYS_TIME"}, set(),
                 id="add-with-prefix"),
    pytest.param({"capabilities": {"drop": ["NET_RAW", "chown"]}}, set(),
                 {"CAP_NET_RAW", "CAP_CHOWN"}, id="drop"),
    pytest.param({"capabilities": {"add": ["NET_ADMIN"], "drop": ["NET_ADMIN"]}}, set(),
                 {"CAP_NET_ADMIN"}, id="drop-wins-over-add"),
])
def test_capabilities_add_and_drop(security: dict[str, Any] | None, added: set[str],
                                   removed: set[str]) -> None:
    caps = set(capabilities(security))
    assert caps == (set(DEFAULT_CAPABILITIES) | added) - removed


def test_capabilities_all() -> None:
    assert capabilities({"capabilities": {"drop": ["ALL"]}}) == []
    assert capabilities({"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}) == \
        ["CAP_NET_BIND_SERVICE"]
    everything_but_chown = capabilities({"capabilities": {"add": ["ALL"], "drop": ["CHOWN"]}})
    assert set(everything_but_chown) == set(ALL_CAPABILITIES) - {"CAP_CHOWN"}


def test_all_means_what_the_agent_holds() -> None:
    held = ("CAP_CHOWN", "CAP_KILL")
    assert capabilities({"privileged": True}, held) == list(held)
    assert capabilities({"capabilities": {"add": ["ALL"]}}, held) == list(held)


def test_process_defaults() -> None:
    config = build()
    process = config["process"]
    assert process["args"] == ["sh", "-c", "true"]
    assert process["cwd"] == "/"
    assert process["terminal"] is False
    assert process["user"] == {"uid": 0, "gid": 0, "additionalGids": [0]}
    assert set(process["capabilities"]["bounding"]) == set(DEFAULT_CAPABILITIES)
    assert process["capabilities"]["effective"] == process["capabilities"]["bounding"]
    # allowPrivilegeEscalation unset means escalation is allowed (upstream default).
    assert process["noNewPrivileges"] is False
    assert process["env"][0].startswith("PATH=")
    assert "HOSTNAME=web" in process["env"]
    assert config["root"] == {"path": "/var/lib/x/rootfs", "readonly": False}
    assert config["linux"]["maskedPaths"] == list(MASKED_PATHS)
    assert config["linux"]["readonlyPaths"] == list(READONLY_PATHS)
    assert config["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert by_destination(config)["/sys"]["options"][-1] == "ro"
    assert by_destination(config)["/sys/fs/cgroup"]["options"][-1] == "ro"


def test_env_given_by_the_pod_wins() -> None:
    env = build(env=[("PATH", "/opt/bin"), ("A", "1")], tty=True)["process"]["env"]
    assert env == ["HOSTNAME=web", "TERM=xterm", "PATH=/opt/bin", "A=1"]


def test_security_context_flags() -> None:
    config = build(security={"allowPrivilegeEscalation": False,
                             "readOnlyRootFilesystem": True},
                   working_dir="/work", tty=True)
    assert config["process"]["noNewPrivileges"] is True
    assert config["root"]["readonly"] is True
    assert config["process"]["cwd"] == "/work"
    assert config["process"]["terminal"] is True


def test_privileged() -> None:
    devices = [Device(path="/dev/sda", type="b", major=8, minor=0, file_mode=0o660, gid=6)]
    config = build_oci_spec(make_spec(security={"privileged": True}), make_sandbox(), ROOT,
                            container_id="c" * 64, host_devices=devices)
    linux = config["linux"]
    assert set(config["process"]["capabilities"]["bounding"]) == set(ALL_CAPABILITIES)
    assert config["process"]["noNewPrivileges"] is False
    assert "maskedPaths" not in linux and "readonlyPaths" not in linux
    assert linux["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert linux["devices"] == [{"path": "/dev/sda", "type": "b", "major": 8, "minor": 0,
                                 "fileMode": 0o660, "uid": 0, "gid": 6}]
    assert by_destination(config)["/sys"]["options"][-1] == "rw"
    assert by_destination(config)["/sys/fs/cgroup"]["options"][-1] == "rw"


def test_unmasked_proc_mount() -> None:
    linux = build(security={"procMount": "Unmasked"})["linux"]
    assert "maskedPaths" not in linux and "readonlyPaths" not in linux


def test_namespaces_from_the_sandbox() -> None:
    config = build()
    assert config["linux"]["namespaces"] == [
        {"type": "mount"}, {"type": "pid"},
        {"type": "network", "path": "/run/ns/s.net"},
        {"type": "ipc", "path": "/run/ns/s.ipc"},
        {"type": "uts", "path": "/run/ns/s.uts"},
    ]
    assert config["hostname"] == "web"


def test_host_namespaces() -> None:
    sandbox = make_sandbox(netns_path=None, ipc_path=None, uts_path=None, host_pid=True,
                           shm_path=None)
    config = build(sandbox=sandbox)
    assert config["linux"]["namespaces"] == [{"type": "mount"}]
    assert "hostname" not in config
    assert by_destination(config)["/dev/shm"]["source"] == "/dev/shm"


def test_mounts_ordering_override_and_propagation() -> None:
    config = build(mounts=[
        Mount("/host/data/sub", "/data/sub", readonly=True),
        Mount("/host/data", "/data", propagation="HostToContainer"),
        Mount("/host/hosts", "/etc/hosts"),
        Mount("/host/shm", "/dev/shm"),
        Mount("", "/scratch", kind="tmpfs"),
    ])
    destinations = [m["destination"] for m in config["mounts"]]
    # Defaults first (the pod's /dev/shm replaced by the requested one), then parents
    # before children.
    assert destinations[:6] == ["/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys",
                                "/sys/fs/cgroup"]
    assert destinations.index("/data") < destinations.index("/data/sub")
    assert destinations.count("/dev/shm") == 1
    mounts = by_destination(config)
    assert mounts["/dev/shm"]["source"] == "/host/shm"
    assert mounts["/data/sub"]["options"] == ["rbind", "rprivate", "ro"]
    assert mounts["/data"]["options"] == ["rbind", "rslave"]
    assert mounts["/scratch"]["type"] == "tmpfs"
    assert config["linux"]["rootfsPropagation"] == "rslave"


def test_pod_shm_is_shared_from_the_sandbox() -> None:
    shm = by_destination(build())["/dev/shm"]
    assert shm["source"] == "/run/ns/s.shm"
    assert shm["type"] == "bind"


def test_bidirectional_makes_root_shared() -> None:
    config = build(mounts=[Mount("/a", "/a", propagation="Bidirectional"),
                           Mount("/b", "/b", propagation="HostToContainer")])
    assert config["linux"]["rootfsPropagation"] == "rshared"


def test_unknown_propagation_is_refused() -> None:
    with pytest.raises(ValueError, match="propagation"):
        build(mounts=[Mount("/a", "/a", propagation="sideways")])


def test_annotations_and_cgroup_path() -> None:
    config = build(annotations={"extra": "1"}, qos_class="Burstable")
    uid = "0f0e0d0c-1111-2222-3333-444455556666"
    assert config["annotations"] == {
        "extra": "1",
        "io.kubernetes.pod.uid": uid,
        "io.kubernetes.pod.name": "web",
        "io.kubernetes.pod.namespace": "default",
        "io.kubernetes.container.name": "app",
        "io.kubernetes.container.restartCount": "2",
        "io.kubernetes.sandbox.id": "s" * 64,
        "kubesmith.io/log-path": "/var/log/pods/default_web_uid/app/2.log",
        "kubesmith.io/image-ref": "docker.io/library/busybox:latest",
        "kubesmith.io/image-id": "sha256:" + "a" * 64,
    }
    assert config["linux"]["cgroupsPath"] == f"/kubepods/burstable/pod{uid}/{'c' * 64}"


def test_image_ref_given_by_the_pod() -> None:
    config = build(image_ref="busybox")
    assert config["annotations"]["kubesmith.io/image-ref"] == "busybox"


def test_resources_in_the_spec() -> None:
    config = build(resources={"requests": {"cpu": "250m", "memory": "64Mi"},
                              "limits": {"cpu": "1", "memory": "128Mi"}},
                   qos_class="Burstable")
    resources = config["linux"]["resources"]
    assert resources["cpu"] == {"shares": 256, "quota": 100000, "period": 100000}
    assert resources["memory"] == {"limit": 128 * 1024 * 1024}


def test_sysctls() -> None:
    config = build(security={"sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start",
                                          "value": "0"}]})
    assert config["linux"]["sysctl"] == {"net.ipv4.ip_unprivileged_port_start": "0"}


def test_rootfs_path_is_absolute_string() -> None:
    config = build(rootfs=Path("/x/rootfs"))
    assert config["root"]["path"] == "/x/rootfs"


def test_oom_score_kept_at_what_the_agent_may_set() -> None:
    spec = make_spec(qos_class="Guaranteed")
    assert build_oci_spec(spec, make_sandbox(), ROOT, container_id="c" * 64)[
        "process"]["oomScoreAdj"] == -997
    restricted = build_oci_spec(spec, make_sandbox(), ROOT, container_id="c" * 64,
                                min_oom_score_adj=0)
    assert restricted["process"]["oomScoreAdj"] == 0
