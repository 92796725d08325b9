"""The CronJob controller against a real API server. Schedule times are reached without
waiting: the controller's clock is moved forward (``CronJobController.clock_offset``) to
just past the next minute, and the CronJob is touched so it is looked at again. The Job
controller does not run here; Jobs are finished by writing their status directly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kubesmith.client import Client
from kubesmith.client.rest import CRONJOBS, JOBS
from kubesmith.controllers.cronjob import CronJobController
from kubesmith.controllers.util import format_rfc3339
from tests.conftest import RunningServer
from tests.integration.controllers.conftest import namespace_with_controller
from tests.integration.controllers.helpers import event_triples, until

pytestmark = pytest.mark.integration

SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"


@dataclass
class Env:
    server: RunningServer
    client: Client
    ns: str
    monkeypatch: pytest.MonkeyPatch

    def jump_to_minute(self, minutes: int = 1) -> datetime:
        """Move the controller's clock to 2 s past the ``minutes``-th minute boundary after
        the real now (at least 5 s ahead, so nothing created now lies past it); returns that
        boundary."""
        real = datetime.now(UTC)
        boundary = (real + timedelta(seconds=5)).replace(second=0, microsecond=0) + \
            timedelta(minutes=minutes)
        self.monkeypatch.setattr(CronJobController, "clock_offset",
                                 (boundary - real).total_seconds() + 2)
        return boundary

    def advance(self, minutes: int) -> None:
        """Move the controller's clock ``minutes`` further."""
        self.monkeypatch.setattr(CronJobController, "clock_offset",
                                 CronJobController.clock_offset + 60 * minutes)

    async def create_cronjob(self, name: str, schedule: str = "*/1 * * * *",
                             **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": name, "namespace": self.ns},
                "spec": {"schedule": schedule, "jobTemplate": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"template": {"spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": "busybox"}]}}}}, **spec}}
        created: dict[str, Any] = await self.client.create(CRONJOBS, body, self.ns)
        return created

    async def touch(self, name: str) -> None:
        """Change the CronJob so the controller looks at it now."""
        await self.client.patch(CRONJOBS, name, {"metadata": {"annotations": {
            "test/touched": str(datetime.now(UTC).timestamp())}}}, self.ns)

    async def cronjob(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.client.get(CRONJOBS, name, self.ns)
        return found

    async def jobs(self) -> dict[str, dict[str, Any]]:
        page = await self.client.list(JOBS, self.ns)
        return {j["metadata"]["name"]: j for j in page.items}

    async def events(self, name: str, *expect: tuple[str, str, str] | str
                     ) -> list[tuple[str, str, str]]:
        """The Events about ``name``, once every ``expect``ed one is there."""
        return await event_triples(self.client, self.ns, name, expect)

    async def finish_job(self, name: str, type_: str, started: datetime) -> None:
        """Write a finished Job status (what the Job controller would)."""
        when = format_rfc3339(started + timedelta(seconds=5))
        status: dict[str, Any] = {"startTime": format_rfc3339(started), "conditions": [
            {"type": type_, "status": "True", "lastTransitionTime": when,
             "lastProbeTime": when}]}
        if type_ == "Complete":
            status["completionTime"] = when
            status["succeeded"] = 1
        else:
            status["failed"] = 1
        await self.client.patch(JOBS, name, {"status": status}, self.ns, subresource="status")


@pytest.fixture
async def env(server: RunningServer, request: pytest.FixtureRequest,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    async with namespace_with_controller(
            server, request, monkeypatch, "cronjob-controller",
            "kubesmith.controllers.cronjob:CronJobController", CRONJOBS, JOBS) as (client, ns):
        yield Env(server, client, ns, monkeypatch)


def job_name(cronjob: str, scheduled: datetime) -> str:
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


async def job_for(env: Env, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        return (await env.jobs()).get(name)
    return await until(check, what=f"job {name}")


async def test_creates_the_job_when_due(env: Env) -> None:
    boundary = env.jump_to_minute()
    cronjob = await env.create_cronjob("tick", timeZone="Europe/Berlin")
    job = await job_for(env, job_name("tick", boundary))
    assert job["metadata"]["labels"]["app"] == "tick"
    assert job["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "CronJob", "name": "tick",
        "uid": cronjob["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    berlin = boundary.astimezone(ZoneInfo("Europe/Berlin"))
    assert job["metadata"]["annotations"][SCHEDULED] == berlin.isoformat()

    async def recorded() -> dict[str, Any] | None:
        found = await env.cronjob("tick")
        return found if (found.get("status") or {}).get("lastScheduleTime") else None
    status = (await until(recorded, what="status"))["status"]
    assert status["lastScheduleTime"] == format_rfc3339(boundary)
    assert [(a["kind"], a["name"], a["uid"]) for a in status["active"]] == [
        ("Job", job["metadata"]["name"], job["metadata"]["uid"])]
    created = ("Normal", "SuccessfulCreate", f"Created job {job['metadata']['name']}")
    assert created in await env.events("tick", created)
    # Looked at again at the same time, it creates nothing more.
    await env.touch("tick")
    await asyncio.sleep(1)
    assert list(await env.jobs()) == [job["metadata"]["name"]]

    # The Job finishes: it leaves the active list, lastSuccessfulTime follows.
    await env.finish_job(job["metadata"]["name"], "Complete", boundary)

    async def settled() -> dict[str, Any] | None:
        found = (await env.cronjob("tick"))["status"]
        return found if not found.get("active") and found.get("lastSuccessfulTime") else None
    status = await until(settled, what="job seen completed")
    assert status["lastSuccessfulTime"] == format_rfc3339(boundary + timedelta(seconds=5))
    saw = ("Normal", "SawCompletedJob",
           f"Saw completed job: {job['metadata']['name']}, status: Complete")
    assert saw in await env.events("tick", saw)


async def test_forbid_skips_while_a_job_runs(env: Env) -> None:
    boundary = env.jump_to_minute()
    await env.create_cronjob("single", concurrencyPolicy="Forbid")
    first = await job_for(env, job_name("single", boundary))
    await until(lambda: _active_count(env, "single", 1), what="active job")
    env.advance(1)
    await env.touch("single")

    async def refused() -> bool:
        return any(r == "JobAlreadyActive" for _t, r, _m in await env.events("single"))
    await until(refused, what="JobAlreadyActive event")
    assert list(await env.jobs()) == [first["metadata"]["name"]]
    # Once it finished, the next schedule time runs.
    await env.finish_job(first["metadata"]["name"], "Complete", boundary)
    env.advance(1)
    await env.touch("single")
    await job_for(env, job_name("single", boundary + timedelta(minutes=2)))


async def _active_count(env: Env, name: str, count: int) -> bool:
    status = (await env.cronjob(name)).get("status") or {}
    return len(status.get("active") or []) == count


async def test_replace_deletes_the_running_job(env: Env) -> None:
    boundary = env.jump_to_minute()
    await env.create_cronjob("swap", concurrencyPolicy="Replace")
    first = await job_for(env, job_name("swap", boundary))
    await until(lambda: _active_count(env, "swap", 1), what="active job")
    env.advance(1)
    await env.touch("swap")
    second = await job_for(env, job_name("swap", boundary + timedelta(minutes=1)))

    async def replaced() -> dict[str, Any] | None:
        jobs = await env.jobs()
        return jobs if first["metadata"]["name"] not in jobs else None
    await until(replaced, what="first job deleted")
    status = (await env.cronjob("swap"))["status"]
    assert [a["uid"] for a in status["active"]] == [second["metadata"]["uid"]]
    assert ("Normal", "SuccessfulDelete", f"Deleted job {first['metadata']['name']}") in \
        await env.events("swap")


async def test_allow_runs_concurrently(env: Env) -> None:
    boundary = env.jump_to_minute()
    await env.create_cronjob("many")
    await job_for(env, job_name("many", boundary))
    await until(lambda: _active_count(env, "many", 1), what="active job")
    env.advance(1)
    await env.touch("many")
    await job_for(env, job_name("many", boundary + timedelta(minutes=1)))
    await until(lambda: _active_count(env, "many", 2), what="two active jobs")


async def test_starting_deadline(env: Env) -> None:
    boundary = env.jump_to_minute()
    # 2 s past the schedule time with a 1 s deadline: too late, no Job.
    await env.create_cronjob("late", startingDeadlineSeconds=1)
    await env.create_cronjob("in-time", startingDeadlineSeconds=30)
    await job_for(env, job_name("in-time", boundary))
    await env.touch("late")
    await asyncio.sleep(1)
    assert not [n for n in await env.jobs() if n.startswith("late-")]
    assert not ((await env.cronjob("late")).get("status") or {}).get("lastScheduleTime")


async def test_history_limits(env: Env) -> None:
    cronjob = await env.create_cronjob("hist", suspend=True, successfulJobsHistoryLimit=1,
                                       failedJobsHistoryLimit=1)
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": "hist",
             "uid": cronjob["metadata"]["uid"], "controller": True,
             "blockOwnerDeletion": True}
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    outcomes = [("ok-1", "Complete", 0), ("ok-2", "Complete", 10), ("ok-3", "Complete", 20),
                ("bad-1", "Failed", 5), ("bad-2", "Failed", 15)]
    for name, _type, _minute in outcomes:
        await env.client.create(JOBS, {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": env.ns, "ownerReferences": [owner]},
            "spec": {"suspend": True, "template": {"spec": {
                "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}},
            env.ns)
    for name, type_, minute in outcomes:
        await env.finish_job(name, type_, base + timedelta(minutes=minute))
    await env.touch("hist")

    async def pruned() -> set[str] | None:
        names = set(await env.jobs())
        return names if names == {"ok-3", "bad-2"} else None
    await until(pruned, what="old jobs deleted")
    deleted = tuple(("Normal", "SuccessfulDelete", f"Deleted job {name}")
                    for name in ("ok-1", "ok-2", "bad-1"))
    events = await env.events("hist", *deleted)
    for triple in deleted:
        assert triple in events
    status = (await env.cronjob("hist"))["status"]
    assert status["lastSuccessfulTime"] == format_rfc3339(base + timedelta(minutes=20, seconds=5))
    assert not status.get("active")


async def test_job_created_by_kubectl(env: Env) -> None:
    await env.create_cronjob("manual", suspend=True)
    await asyncio.to_thread(env.server.kubectl, "create", "job", "by-hand",
                            "--from=cronjob/manual", "-n", env.ns)
    job = (await env.jobs())["by-hand"]
    assert job["metadata"]["ownerReferences"][0]["name"] == "manual"

    async def noticed() -> bool:
        return ("Warning", "UnexpectedJob",
                "Saw a job that the controller did not create or forgot: by-hand") in \
            await env.events("manual")
    await until(noticed, what="UnexpectedJob event")
    assert not ((await env.cronjob("manual")).get("status") or {}).get("active")
