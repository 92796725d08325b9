"""A pod worker driving fakes of the runtime, image store, CNI, volumes and probes: the
whole life of pods, their events and statuses."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.pods.runs import TERMINATION_LOG
from kubesmith.agent.volumes.errors import VolumeError
from tests.unit.agent.pods.builders import make_pod
from tests.unit.agent.pods.fakes import Harness, image

Obj = dict[str, Any]


def busybox(name: str = "app", **fields: Any) -> Obj:
    return {"name": name, "image": "busybox", "imagePullPolicy": "IfNotPresent",
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File", **fields}


def write_file(path: str, text: str) -> None:
    Path(path).write_text(text)


async def test_a_pod_runs(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox(command=["sleep", "1d"])))
    assert await h.sync() is False
    assert h.status["phase"] == "Running"
    app = h.container_status("app")
    assert "running" in app["state"] and app["ready"] is True
    assert app["image"] == "docker.io/library/busybox:latest"
    assert app["imageID"].startswith("docker.io/library/busybox@sha256:")
    assert h.status["podIP"] == "10.244.0.5"
    assert h.cni.added == ["sandbox1"]
    assert h.events.reasons() == ["Pulling", "Pulled", "Created", "Started"]
    pulled = h.events.events[1]
    assert pulled[2].startswith('Successfully pulled image "busybox" in ')
    assert pulled[2].endswith("including waiting). Image size: 2000000 bytes.")
    assert pulled[3] == "spec.containers{app}"
    spec = h.runtime.spec_of("app")
    assert spec.args == ["sleep", "1d"]
    assert ("HOSTNAME", "web") in spec.env and ("PATH", "/bin") in spec.env
    targets = {m.container_path: m.host_path for m in spec.mounts}
    pod_dir = h.paths.pod_dir("u-1")
    assert targets["/etc/hosts"] == str(pod_dir / "etc-hosts")
    assert targets["/etc/resolv.conf"] == str(pod_dir / "resolv.conf")
    assert "10.244.0.5\tweb\n" in (pod_dir / "etc-hosts").read_text()
    assert (pod_dir / "resolv.conf").read_text().startswith(
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n")
    assert spec.log_path == h.paths.container_log("shop", "web", "u-1", "app", 0)
    # A second sync changes nothing.
    writes = len(h.api.writes)
    await h.sync()
    assert len(h.api.writes) == writes
    assert h.events.reasons() == ["Pulling", "Pulled", "Created", "Started"]


async def test_image_already_present(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox()))
    h.images.present["busybox"] = image()
    await h.sync()
    assert h.events.events[0][1:3] == ("Pulled", 'Container image "busybox" already present '
                                                 "on machine and can be accessed by the pod")
    assert h.images.pulls == []


async def test_image_never_pulled(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox(imagePullPolicy="Never")))
    await h.sync()
    assert h.container_status("app")["state"]["waiting"] == {
        "reason": "ErrImageNeverPull",
        "message": 'Container image "busybox" is not present with pull policy of Never'}


async def test_failed_pull_backs_off(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox(image="nope:1")))
    h.images.failures["nope:1"] = 'failed to pull and unpack image "docker.io/library/' \
                                  'nope:1": manifest unknown'
    await h.sync()
    waiting = h.container_status("app")["state"]["waiting"]
    assert waiting == {"reason": "ErrImagePull", "message": h.images.failures["nope:1"]}
    assert [e[1:3] for e in h.events.events[-3:]] == [
        ("Pulling", 'Pulling image "nope:1"'),
        ("Failed", f'Failed to pull image "nope:1": {h.images.failures["nope:1"]}'),
        ("Failed", "Error: ErrImagePull")]
    h.clock.now += 2
    await h.sync()
    waiting = h.container_status("app")["state"]["waiting"]
    assert waiting["reason"] == "ImagePullBackOff"
    assert waiting["message"] == 'Back-off pulling image "nope:1": ErrImagePull: ' + \
        h.images.failures["nope:1"]
    assert h.images.pulls == ["nope:1"]           # no new pull during the back-off
    assert h.wakes[-1] == pytest.approx(8.05)
    h.clock.now += 9
    await h.sync()
    assert h.images.pulls == ["nope:1", "nope:1"]


async def test_missing_configmap_is_a_config_error(tmp_path: Path) -> None:
    pod = make_pod(busybox(env=[{"name": "X", "valueFrom": {"configMapKeyRef": {
        "name": "app-config", "key": "x"}}}]))
    h = Harness(tmp_path, pod)
    await h.sync()
    assert h.container_status("app")["state"]["waiting"] == {
        "reason": "CreateContainerConfigError", "message": 'configmap "app-config" not found'}
    assert ("Warning", "Failed", 'Error: configmap "app-config" not found',
            "spec.containers{app}") in h.events.events
    assert h.runtime.containers == {}
    assert h.images.mounted == set()


async def test_env_reaches_the_container(tmp_path: Path) -> None:
    secret = {"data": {"token": base64.b64encode(b"abc").decode()}}
    pod = make_pod(busybox(
        env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
             {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        command=["echo", "$(TOKEN)"]))
    h = Harness(tmp_path, pod, secrets={"s": secret})
    await h.sync()
    spec = h.runtime.spec_of("app")
    assert ("TOKEN", "abc") in spec.env and ("POD_IP", "10.244.0.5") in spec.env
    assert spec.args == ["echo", "abc"]


async def test_run_to_completion_with_never(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox(), restartPolicy="Never"))
    await h.sync()
    cid = h.runtime.by_name("app")[0]
    write_file(h.runtime.containers[cid].state.annotations[TERMINATION_LOG], "bye")
    h.runtime.exit("app", 0)
    await h.sync()
    assert h.status["phase"] == "Succeeded"
    terminated = h.container_status("app")["state"]["terminated"]
    assert terminated["reason"] == "Completed" and terminated["message"] == "bye"
    assert h.state.finished
    # The sandbox and volumes are released; the exited container stays for its logs.
    assert h.cni.deleted == ["sandbox1"] and h.volumes.teardowns == ["u-1"]
    assert h.runtime.containers and h.runtime.sandboxes == {}
    # Deleting the finished pod removes the container and the object.
    h.api.update(deletionTimestamp="2030-01-01T00:00:00Z", deletionGracePeriodSeconds=30)
    assert await h.sync() is True
    assert h.runtime.containers == {} and h.api.deleted


async def test_crash_loop_back_off(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox(command=["false"])))
    await h.sync()
    h.runtime.exit("app", 1)
    await h.sync()                     # first restart: immediate
    assert len(h.runtime.by_name("app")) == 2
    assert h.container_status("app")["restartCount"] == 1
    h.clock.now += 1
    h.runtime.exit("app", 1)
    await h.sync()                     # second: must wait 10 s
    app = h.container_status("app")
    assert app["state"]["waiting"] == {
        "reason": "CrashLoopBackOff",
        "message": "back-off 10s restarting failed container=app pod=web_shop(u-1)"}
    assert app["lastState"]["terminated"]["exitCode"] == 1
    assert ("Warning", "BackOff", "Back-off restarting failed container app in pod "
            "web_shop(u-1)", "spec.containers{app}") in h.events.events
    assert h.status["phase"] == "Running"
    h.clock.now += 10
    await h.sync()
    assert len(h.runtime.by_name("app")) == 2      # the oldest exited one was removed
    assert h.container_status("app")["restartCount"] == 2
    h.clock.now += 1
    h.runtime.exit("app", 1)
    await h.sync()
    assert h.container_status("app")["state"]["waiting"]["message"].startswith(
        "back-off 20s ")


async def test_oom_killed(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox(), restartPolicy="Never"))
    await h.sync()
    h.runtime.exit("app", 137, oom=True)
    await h.sync()
    assert h.container_status("app")["state"]["terminated"]["reason"] == "OOMKilled"
    assert h.status["phase"] == "Failed"


async def test_container_that_cannot_start(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox(command=["nope"])))
    h.runtime.unstartable.add("nope")
    await h.sync()
    app = h.container_status("app")
    assert app["state"]["waiting"]["reason"] == "RunContainerError"
    assert app["lastState"]["terminated"]["reason"] == "ContainerCannotRun"
    assert app["lastState"]["terminated"]["exitCode"] == 128


async def test_init_containers_then_apps(tmp_path: Path) -> None:
    pod = make_pod(busybox(), init=(busybox("setup"), busybox("migrate")))
    h = Harness(tmp_path, pod)
    await h.sync()
    assert [c[1] for c in h.runtime.calls if c[0] == "start"] == ["setup"]
    assert h.container_status("app")["state"]["waiting"]["reason"] == "PodInitializing"
    h.runtime.exit("setup", 0)
    await h.sync()
    assert [c[1] for c in h.runtime.calls if c[0] == "start"] == ["setup", "migrate"]
    h.runtime.exit("migrate", 0)
    await h.sync()
    assert [c[1] for c in h.runtime.calls if c[0] == "start"] == ["setup", "migrate", "app"]
    assert h.status["phase"] == "Running"
    assert [s["ready"] for s in h.status["initContainerStatuses"]] == [True, True]


async def test_failed_init_container_fails_a_never_pod(tmp_path: Path) -> None:
    pod = make_pod(busybox(), init=(busybox("setup"),), restartPolicy="Never")
    h = Harness(tmp_path, pod)
    await h.sync()
    h.runtime.exit("setup", 3)
    await h.sync()
    assert h.status["phase"] == "Failed"
    assert [c[1] for c in h.runtime.calls if c[0] == "start"] == ["setup"]


async def test_sidecar_starts_first_and_stops_last(tmp_path: Path) -> None:
    pod = make_pod(busybox(), init=(busybox("proxy", restartPolicy="Always"),),
                   terminationGracePeriodSeconds=30)
    h = Harness(tmp_path, pod)
    await h.sync()
    await h.sync()
    assert [c[1] for c in h.runtime.calls if c[0] == "start"] == ["proxy", "app"]
    assert h.status["phase"] == "Running"
    h.api.update(deletionTimestamp="2030-01-01T00:00:00Z", deletionGracePeriodSeconds=30)
    assert await h.sync() is True
    stops = [c[1] for c in h.runtime.calls if c[0] == "stop"]
    assert stops == ["app", "proxy"]
    assert h.api.deleted
    assert h.runtime.containers == {} and h.runtime.sandboxes == {}
    assert [r for r in h.events.reasons() if r == "Killing"] == ["Killing", "Killing"]


async def test_termination_runs_pre_stop_then_stops_with_the_grace(tmp_path: Path) -> None:
    pod = make_pod(busybox(lifecycle={"preStop": {"exec": {"command": ["sh", "-c",
                                                                       "sleep 1"]}}}))
    h = Harness(tmp_path, pod)
    await h.sync()
    h.api.update(deletionTimestamp="2030-01-01T00:00:00Z", deletionGracePeriodSeconds=20)
    await h.sync()
    assert ("exec", "app", "sh -c sleep 1") in h.runtime.calls
    stop = next(c for c in h.runtime.calls if c[0] == "stop")
    assert float(stop[2]) == 20
    assert ("Normal", "Killing", "Stopping container app", "spec.containers{app}") in \
        h.events.events


async def test_final_status_before_deletion(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox()))
    await h.sync()
    h.api.update(deletionTimestamp="2030-01-01T00:00:00Z", deletionGracePeriodSeconds=0)
    final: list[Obj] = []
    real_delete = h.api.delete

    async def delete(pod: Obj) -> None:
        final.append(h.api.pod or {})
        await real_delete(pod)

    h.api.delete = delete  # type: ignore[method-assign]
    await h.sync()
    status = final[0]["status"]
    assert status["phase"] == "Failed"        # killed by SIGTERM (143)
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143
    assert float(next(c for c in h.runtime.calls if c[0] == "stop")[2]) == 2  # minimum


async def test_post_start_failure_kills_the_container(tmp_path: Path) -> None:
    pod = make_pod(busybox(lifecycle={"postStart": {"exec": {"command": ["false"]}}}))
    h = Harness(tmp_path, pod)
    h.runtime.exec_results["false"] = (1, b"nope\n")
    await h.sync()
    app = h.container_status("app")
    assert app["state"]["waiting"]["reason"] == "PostStartHookError"
    assert app["state"]["waiting"]["message"].startswith(
        'Exec lifecycle hook ([false]) for Container "app" in Pod "web_shop(u-1)" failed - '
        "error: command 'false' exited with 1: nope")
    assert ("Warning", "FailedPostStartHook", "PostStartHook failed",
            "spec.containers{app}") in h.events.events
    assert ("Normal", "Killing", "FailedPostStartHook", "spec.containers{app}") in \
        h.events.events


async def test_liveness_failure_restarts(tmp_path: Path) -> None:
    pod = make_pod(busybox(livenessProbe={"exec": {"command": ["true"]}}))
    h = Harness(tmp_path, pod)
    await h.sync()
    h.probes.results[("liveness", "app")] = False
    await h.sync()
    assert ("Normal", "Killing", "Container app failed liveness probe, will be restarted",
            "spec.containers{app}") in h.events.events
    assert len(h.runtime.by_name("app")) == 2


async def test_volume_failure_keeps_the_pod_creating(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox()))
    h.volumes.failure = VolumeError.setup_failed("cfg", 'configmap "app" not found')
    await h.sync()
    assert ("Warning", "FailedMount", 'MountVolume.SetUp failed for volume "cfg" : '
            'configmap "app" not found', "") in h.events.events
    assert h.container_status("app")["state"]["waiting"]["reason"] == "ContainerCreating"
    assert h.runtime.containers == {}
    h.volumes.failure = None
    await h.sync()
    assert h.status["phase"] == "Running"


async def test_rejected_by_admission(tmp_path: Path) -> None:
    pod = make_pod(busybox(resources={"requests": {"cpu": "3"}}))
    h = Harness(tmp_path, pod)
    await h.sync()
    assert h.status["phase"] == "Failed"
    assert h.status["reason"] == "OutOfcpu"
    assert h.status["message"] == "Pod was rejected: Node didn't have enough resource: cpu, " \
                                  "requested: 3000, used: 0, capacity: 2000"
    assert h.runtime.sandboxes == {}


async def test_pod_removed_from_the_api_is_cleaned_up(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod(busybox()))
    await h.sync()
    h.api.pod = None
    assert await h.sync() is True
    assert h.runtime.containers == {} and h.runtime.sandboxes == {}
    assert h.cni.deleted == ["sandbox1"]
