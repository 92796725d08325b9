"""The HPA controller against a real API server: min/max enforced through the target's
scale subresource, and — with no resource metrics API in the cluster yet — the conditions
and events upstream reports when metrics are missing, visible through kubectl."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubesmith.controllers.util import get_condition
from tests.conftest import RunningServer
from tests.integration.controllers.conftest import running_controllers
from tests.integration.controllers.helpers import until

pytestmark = pytest.mark.integration


def _hpa(server: RunningServer, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(server.kubectl("get", "hpa", name, "-o", "json")
                                       .stdout)
    return found


async def test_min_replicas_enforced_and_missing_metrics_reported(
        server: RunningServer) -> None:
    server.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=1")
    server.kubectl("autoscale", "deployment", "web", "--min=2", "--max=5",
                   "--cpu-percent=50")
    async with running_controllers(server, "horizontal-pod-autoscaler"):
        replicas = await until(lambda: server.kubectl(
            "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "2",
            "2 replicas", 15, interval=0.2)
        assert replicas
        events = await until(lambda: [e for e in json.loads(server.kubectl(
            "get", "events", "-o", "json", "--field-selector",
            "involvedObject.name=web,involvedObject.kind=HorizontalPodAutoscaler").stdout)
            ["items"] if e["reason"] == "SuccessfulRescale"], "a SuccessfulRescale event", 15,
            interval=0.2)
        assert events[0]["message"] == \
            "New size: 2; reason: Current number of replicas below Spec.MinReplicas"
        # Within bounds now, the controller needs metrics and there is no metrics API.
        hpa = await until(lambda: (h := _hpa(server, "web")) and
                          (c := get_condition(h, "ScalingActive")) and
                          c["status"] == "False" and h, "ScalingActive=False", 15, interval=0.2)
        active = get_condition(hpa, "ScalingActive")
        assert active is not None
        assert active["reason"] == "FailedGetResourceMetric"
        assert active["message"].startswith(
            "the HPA was unable to compute the replica count: failed to get cpu resource "
            "metric value: failed to get cpu utilization: unable to get metrics for resource "
            "cpu: unable to fetch metrics from resource metrics API:")
        able = get_condition(hpa, "AbleToScale")
        assert able is not None and able["reason"] == "SucceededGetScale"
        table = server.kubectl("get", "hpa", "web").stdout
        assert "<unknown>/50%" in table
        described = await until(lambda: (d := server.kubectl("describe", "hpa", "web")
                                          .stdout) and "FailedGetResourceMetric" in d and d,
                                "FailedGetResourceMetric described", 15, interval=0.2)
        assert "FailedComputeMetricsReplicas" in described
        # Lowering maxReplicas below the current count scales down at once.
        server.kubectl("patch", "hpa", "web", "--type=merge", "-p",
                       '{"spec":{"minReplicas":1,"maxReplicas":1}}')
        assert await until(lambda: server.kubectl(
            "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "1",
            "1 replica", 15, interval=0.2)


async def test_missing_target_is_reported(server: RunningServer) -> None:
    server.kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "ghost", "namespace": "default"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "ghost"},
                 "minReplicas": 1, "maxReplicas": 3}}))
    async with running_controllers(server, "horizontal-pod-autoscaler"):
        hpa = await until(lambda: (h := _hpa(server, "ghost")) and
                          get_condition(h, "AbleToScale") and h, "AbleToScale", 15, interval=0.2)
    able = get_condition(hpa, "AbleToScale")
    assert able is not None
    assert able["status"] == "False" and able["reason"] == "FailedGetScale"
    assert 'deployments.apps "ghost" not found' in able["message"]
