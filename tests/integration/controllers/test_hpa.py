"""The HPA controller against a real API server: min/max enforced through the target's
scale subresource, and — with no resource metrics API in the cluster yet — the conditions
and events upstream reports when metrics are missing, visible through kubectl."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import RunningServer
from tests.integration.controllers.conftest import running_controllers

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(server_factory: Any) -> RunningServer:
    s: RunningServer = server_factory("--controllers", "serviceaccount")
    return s


async def _until(fn: Any, seconds: float = 15) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        found = fn()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached")


def _hpa(server: RunningServer, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(server.kubectl("get", "hpa", name, "-o", "json")
                                       .stdout)
    return found


def _condition(hpa: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in (hpa.get("status") or {}).get("conditions") or ()
                 if c["type"] == type_), None)


async def test_min_replicas_enforced_and_missing_metrics_reported(
        server: RunningServer) -> None:
    server.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=1")
    server.kubectl("autoscale", "deployment", "web", "--min=2", "--max=5",
                   "--cpu-percent=50")
    async with running_controllers(server, "horizontal-pod-autoscaler"):
        replicas = await _until(lambda: server.kubectl(
            "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "2")
        assert replicas
        events = await _until(lambda: [e for e in json.loads(server.kubectl(
            "get", "events", "-o", "json", "--field-selector",
            "involvedObject.name=web,involvedObject.kind=HorizontalPodAutoscaler").stdout)
            ["items"] if e["reason"] == "SuccessfulRescale"])
        assert events[0]["message"] == \
            "New size: 2; reason: Current number of replicas below Spec.MinReplicas"
        # Within bounds now, the controller needs metrics and there is no metrics API.
        hpa = await _until(lambda: (h := _hpa(server, "web")) and
                           (c := _condition(h, "ScalingActive")) and
                           c["status"] == "False" and h)
        active = _condition(hpa, "ScalingActive")
        assert active is not None
        assert active["reason"] == "FailedGetResourceMetric"
        assert active["message"].startswith(
            "the HPA was unable to compute the replica count: failed to get cpu resource "
            "metric value: failed to get cpu utilization: unable to get metrics for resource "
            "cpu: unable to fetch metrics from resource metrics API:")
        able = _condition(hpa, "AbleToScale")
        assert able is not None and able["reason"] == "SucceededGetScale"
        table = server.kubectl("get", "hpa", "web").stdout
        assert "<unknown>/50%" in table
        described = await _until(lambda: (d := server.kubectl("describe", "hpa", "web")
                                           .stdout) and "FailedGetResourceMetric" in d and d)
        assert "FailedComputeMetricsReplicas" in described
        # Lowering maxReplicas below the current count scales down at once.
        server.kubectl("patch", "hpa", "web", "--type=merge", "-p",
                       '{"spec":{"minReplicas":1,"maxReplicas":1}}')
        assert await _until(lambda: server.kubectl(
            "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "1")


async def test_missing_target_is_reported(server: RunningServer) -> None:
    server.kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "ghost", "namespace": "default"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "ghost"},
                 "minReplicas": 1, "maxReplicas": 3}}))
    async with running_controllers(server, "horizontal-pod-autoscaler"):
        hpa = await _until(lambda: (h := _hpa(server, "ghost")) and
                           _condition(h, "AbleToScale") and h)
    able = _condition(hpa, "AbleToScale")
    assert able is not None
    assert able["status"] == "False" and able["reason"] == "FailedGetScale"
    assert 'deployments.apps "ghost" not found' in able["message"]
