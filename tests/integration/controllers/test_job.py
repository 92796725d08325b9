"""The Job controller against a real API server. A small fake kubelet in this module runs
the Job's pods: it marks each new pod Running and Ready, then finishes it as the test
decides (Succeeded, or Failed with an exit code in its container status)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kubesmith.client import ApiError, Client, Informer
from kubesmith.client.rest import JOBS, PODS
from kubesmith.controllers.job.manage import PodManager
from kubesmith.controllers.util import get_condition, now_rfc3339
from tests.conftest import RunningServer
from tests.integration.controllers.conftest import namespace_with_controller
from tests.integration.controllers.helpers import (
    event_triples,
    kubectl,
    until,
)

pytestmark = pytest.mark.integration

TRACKING = "batch.kubernetes.io/job-tracking"
INDEX = "batch.kubernetes.io/job-completion-index"
#: What the kubelet does with a pod: ("Succeeded", 0), ("Failed", code), or None (keep
#: it running).
Outcome = Callable[[dict[str, Any]], tuple[str, int] | None]


def succeed(_pod: dict[str, Any]) -> tuple[str, int] | None:
    return ("Succeeded", 0)


def keep_running(_pod: dict[str, Any]) -> tuple[str, int] | None:
    return None


class JobKubelet:
    """Runs a namespace's pods (see the module docstring) and records how many of each
    Job's pods were active at once."""

    def __init__(self, client: Client, namespace: str, outcome: Outcome = succeed,
                 run_for: float = 0.3) -> None:
        self.client = client
        self.namespace = namespace
        self.outcome = outcome
        self.run_for = run_for
        self.informer = Informer(client, PODS, namespace)
        #: Job name -> the most pods seen active (not finished, not deleting) at once.
        self.max_active: dict[str, int] = {}
        self._started: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    async def __aenter__(self) -> JobKubelet:
        self.informer.add_handlers(on_add=self._seen, on_update=lambda _o, new: self._seen(new))
        self._runner = asyncio.create_task(self.informer.run())
        await asyncio.wait_for(self.informer.wait_synced(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()
        for task in [*self._tasks, *([self._runner] if self._runner else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _seen(self, pod: dict[str, Any]) -> None:
        job = (pod["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name")
        if job:
            active = sum(1 for p in self.informer.list()
                         if (p["metadata"].get("labels") or {}).get(
                             "batch.kubernetes.io/job-name") == job
                         and not p["metadata"].get("deletionTimestamp")
                         and p["status"].get("phase") in ("Pending", "Running"))
            self.max_active[job] = max(self.max_active.get(job, 0), active)
        name = pod["metadata"]["name"]
        if name in self._started or pod["metadata"].get("deletionTimestamp") or \
                pod["status"].get("phase") != "Pending":
            return
        self._started.add(name)
        task = asyncio.create_task(self._run(pod))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _patch_status(self, name: str, status: dict[str, Any]) -> None:
        with contextlib.suppress(ApiError):
            await self.client.patch(PODS, name, {"status": status}, self.namespace,
                                    subresource="status")

    async def _run(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        containers = [c["name"] for c in pod["spec"]["containers"]]
        started = now_rfc3339()
        await self._patch_status(name, {
            "phase": "Running", "startTime": started,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started}],
            "containerStatuses": [{"name": c, "image": "busybox", "imageID": "", "ready": True,
                                   "restartCount": 0, "started": True,
                                   "state": {"running": {"startedAt": started}}}
                                  for c in containers]})
        await asyncio.sleep(self.run_for)
        outcome = self.outcome(pod)
        if outcome is None:
            return
        phase, code = outcome
        finished = now_rfc3339()
        await self._patch_status(name, {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted",
                            "lastTransitionTime": finished}],
            "containerStatuses": [{"name": c, "image": "busybox", "imageID": "",
                                   "ready": False, "restartCount": 0, "started": False,
                                   "state": {"terminated": {
                                       "exitCode": code, "startedAt": started,
                                       "finishedAt": finished,
                                       "reason": "Completed" if code == 0 else "Error"}}}
                                  for c in containers]})


@dataclass
class Env:
    server: RunningServer
    client: Client
    ns: str
    kubelets: list[JobKubelet] = field(default_factory=list)

    async def kubectl(self, *args: str, check: bool = True) -> Any:
        """Real kubectl in this namespace (without blocking the controllers)."""
        return await kubectl(self.server, *args, "-n", self.ns, check=check)

    async def create_job(self, name: str, *, command: str = "true",
                         **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": self.ns},
                "spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox",
                                    "command": ["sh", "-c", command]}]}}, **spec}}
        created: dict[str, Any] = await self.client.create(JOBS, body, self.ns)
        return created

    async def job(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.client.get(JOBS, name, self.ns)
        return found

    async def pods(self, job: str) -> list[dict[str, Any]]:
        page = await self.client.list(PODS, self.ns,
                                      label_selector=f"batch.kubernetes.io/job-name={job}")
        return page.items

    async def events(self, name: str, *expect: tuple[str, str, str] | str
                     ) -> list[tuple[str, str, str]]:
        """The Events about ``name``, once every ``expect``ed one is there."""
        return await event_triples(self.client, self.ns, name, expect)


async def finished(env: Env, name: str, type_: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        job = await env.job(name)
        cond = get_condition(job, type_)
        return job if cond and cond["status"] == "True" else None
    return await until(check, what=f"job {name} {type_}")


@pytest.fixture
async def env(server: RunningServer, request: pytest.FixtureRequest,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    # Pods keep the tracking finalizer the stopped controller did not remove: the cleanup
    # drops it.
    async with namespace_with_controller(
            server, request, monkeypatch, "job-controller",
            "kubesmith.controllers.job:JobController", JOBS, PODS) as (client, ns):
        yield Env(server, client, ns)


async def test_completions_with_parallelism(env: Env) -> None:
    async with JobKubelet(env.client, env.ns, succeed) as kubelet:
        await env.create_job("five", completions=5, parallelism=2)
        proc = await env.kubectl("wait", "--for=condition=complete", "job/five",
                                 "--timeout=30s")
        assert "condition met" in proc.stdout
        assert kubelet.max_active["five"] <= 2
    job = await env.job("five")
    status = job["status"]
    assert status["succeeded"] == 5
    assert status.get("failed", 0) == 0
    assert status.get("active", 0) == 0
    assert status["startTime"] <= status["completionTime"]
    assert status.get("uncountedTerminatedPods", {}) == {}
    met, complete = get_condition(job, "SuccessCriteriaMet"), get_condition(job, "Complete")
    assert met is not None and complete is not None
    assert (complete["reason"], complete["message"]) == (
        "CompletionsReached", "Reached expected number of succeeded pods")
    types = [c["type"] for c in status["conditions"]]
    assert types.index("SuccessCriteriaMet") < types.index("Complete")
    pods = await env.pods("five")
    assert len(pods) == 5
    uid = job["metadata"]["uid"]
    for pod in pods:
        assert TRACKING not in (pod["metadata"].get("finalizers") or [])
        assert pod["metadata"]["ownerReferences"][0]["uid"] == uid
        assert pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == uid
        assert pod["metadata"]["labels"]["job-name"] == "five"
    events = await until(lambda: _with_reason(env, "five", "Completed"), what="events")
    assert ("Normal", "Completed", "Job completed") in events
    created = [m for _t, r, m in events if r == "SuccessfulCreate"]
    assert sorted(created) == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)
    described = await env.kubectl("describe", "job", "five")
    assert "Pods Statuses:" in described.stdout and "5 Succeeded" in described.stdout


async def _with_reason(env: Env, name: str, reason: str) -> list[tuple[str, str, str]] | None:
    events = await env.events(name)
    return events if any(r == reason for _t, r, _m in events) else None


async def test_backoff_limit_exceeded(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # Upstream waits 10 s before the first replacement; a shorter first delay keeps the
    # test quick while still exercising the backoff.
    monkeypatch.setattr(PodManager, "pod_failure_backoff", 0.5)
    async with JobKubelet(env.client, env.ns, lambda _p: ("Failed", 1)):
        await env.create_job("flaky", backoffLimit=1)
        job = await finished(env, "flaky", "Failed")
    failed = get_condition(job, "Failed")
    assert failed is not None
    assert (failed["reason"], failed["message"]) == (
        "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    target = get_condition(job, "FailureTarget")
    assert target is not None and target["reason"] == "BackoffLimitExceeded"
    assert get_condition(job, "Complete") is None
    assert job["status"]["failed"] == 2
    assert "completionTime" not in job["status"]
    assert len(await env.pods("flaky")) == 2
    events = await until(lambda: _with_reason(env, "flaky", "BackoffLimitExceeded"),
                         what="BackoffLimitExceeded event")
    assert ("Warning", "BackoffLimitExceeded",
            "Job has reached the specified backoff limit") in events


async def test_active_deadline_exceeded(env: Env) -> None:
    async with JobKubelet(env.client, env.ns, keep_running):
        await env.create_job("slow", parallelism=2, completions=4, activeDeadlineSeconds=2)
        await until(lambda: _running(env, "slow", 2), what="two running pods")
        job = await finished(env, "slow", "Failed")
    failed = get_condition(job, "Failed")
    assert failed is not None
    assert (failed["reason"], failed["message"]) == (
        "DeadlineExceeded", "Job was active longer than specified deadline")
    assert job["status"].get("active", 0) == 0
    assert job["status"]["failed"] == 2
    # The running pods were deleted (and, unscheduled, are gone once their finalizer went).
    await until(lambda: _no_pods(env, "slow"), seconds=10, what="pods deleted")
    deadline = ("Warning", "DeadlineExceeded", "Job was active longer than specified deadline")
    assert deadline in await env.events("slow", deadline)

    async def two_deletes() -> list[tuple[str, str, str]] | None:
        events = await env.events("slow")
        deletes = sum(1 for _t, r, _m in events if r == "SuccessfulDelete")
        return events if deletes >= 2 else None
    events = await until(two_deletes, what="both deletions recorded")
    assert sum(1 for _t, r, _m in events if r == "SuccessfulDelete") == 2


async def _running(env: Env, job: str, count: int) -> bool:
    pods = await env.pods(job)
    return sum(1 for p in pods if p["status"].get("phase") == "Running") >= count


async def _no_pods(env: Env, job: str) -> bool:
    return not await env.pods(job)


async def test_indexed_job(env: Env) -> None:
    async with JobKubelet(env.client, env.ns, succeed):
        await env.create_job("idx", completions=5, parallelism=3, completionMode="Indexed")
        job = await finished(env, "idx", "Complete")
    assert job["status"]["completedIndexes"] == "0-4"
    assert job["status"]["succeeded"] == 5
    pods = await env.pods("idx")
    indexes = sorted(int(p["metadata"]["annotations"][INDEX]) for p in pods)
    assert indexes == [0, 1, 2, 3, 4]
    for pod in pods:
        index = pod["metadata"]["annotations"][INDEX]
        assert pod["metadata"]["labels"][INDEX] == index
        assert pod["spec"]["hostname"] == f"idx-{index}"
        assert pod["metadata"]["name"].startswith(f"idx-{index}-")
        assert {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "apiVersion": "v1", "fieldPath": f"metadata.labels['{INDEX}']"}}} in \
            pod["spec"]["containers"][0]["env"]


async def test_pod_failure_policy_fail_job(env: Env) -> None:
    def exit_42(pod: dict[str, Any]) -> tuple[str, int]:
        return ("Failed", 42)
    async with JobKubelet(env.client, env.ns, exit_42):
        await env.create_job("policy", backoffLimit=6, podFailurePolicy={"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In",
                                                  "values": [42]}}]})
        job = await finished(env, "policy", "Failed")
    pods = await env.pods("policy")
    assert len(pods) == 1
    failed = get_condition(job, "Failed")
    assert failed is not None
    assert failed["reason"] == "PodFailurePolicy"
    assert failed["message"] == (f"Container main for pod {env.ns}/{pods[0]['metadata']['name']}"
                                 " failed with exit code 42 matching FailJob rule at index 1")
    assert job["status"]["failed"] == 1


async def test_suspend_and_resume(env: Env) -> None:
    async with JobKubelet(env.client, env.ns, keep_running):
        await env.create_job("pausable", parallelism=2, completions=2, suspend=True)

        async def suspended() -> dict[str, Any] | None:
            job = await env.job("pausable")
            cond = get_condition(job, "Suspended")
            return job if cond and cond["status"] == "True" else None
        job = await until(suspended, what="Suspended condition")
        cond = get_condition(job, "Suspended")
        assert cond is not None and (cond["reason"], cond["message"]) == (
            "JobSuspended", "Job suspended")
        assert "startTime" not in job["status"]
        assert await env.pods("pausable") == []

        await env.client.patch(JOBS, "pausable", {"spec": {"suspend": False}}, env.ns)
        await until(lambda: _running(env, "pausable", 2), what="pods after resume")
        job = await env.job("pausable")
        cond = get_condition(job, "Suspended")
        assert cond is not None and (cond["status"], cond["reason"]) == ("False", "JobResumed")
        assert job["status"].get("startTime")

        await env.client.patch(JOBS, "pausable", {"spec": {"suspend": True}}, env.ns)
        await until(lambda: _no_pods(env, "pausable"), what="pods deleted on suspend")

        async def inactive() -> dict[str, Any] | None:
            job = await env.job("pausable")
            status = job["status"]
            cond = get_condition(job, "Suspended")
            done = status.get("active", 0) == 0 and cond and cond["status"] == "True"
            return job if done else None
        job = await until(inactive, what="suspended again")
        assert get_condition(job, "Complete") is None and get_condition(job, "Failed") is None
    reasons = [r for _t, r, _m in await env.events("pausable", "Suspended", "Resumed")]
    assert "Suspended" in reasons and "Resumed" in reasons


async def test_deleted_job_releases_its_pods_finalizers(env: Env) -> None:
    async with JobKubelet(env.client, env.ns, keep_running):
        await env.create_job("gone", parallelism=2, completions=2)
        await until(lambda: _running(env, "gone", 2), what="running pods")
        pods = await env.pods("gone")
        assert all(TRACKING in p["metadata"]["finalizers"] for p in pods)
        # No garbage collector runs here: the pods outlive their Job, and must not be left
        # holding the finalizer only a running Job would remove.
        await env.client.delete(JOBS, "gone", env.ns, propagation_policy="Background")

        async def released() -> bool:
            pods = await env.pods("gone")
            return len(pods) == 2 and all(
                TRACKING not in (p["metadata"].get("finalizers") or []) for p in pods)
        await until(released, what="finalizers removed")


async def test_kubectl_shows_the_job(env: Env) -> None:
    async with JobKubelet(env.client, env.ns, succeed):
        await env.create_job("shown")
        await finished(env, "shown", "Complete")
    proc = await env.kubectl("get", "job", "shown", "-o", "json")
    assert json.loads(proc.stdout)["status"]["succeeded"] == 1
    table = await env.kubectl("get", "job", "shown")
    assert "Complete" in table.stdout and "1/1" in table.stdout
