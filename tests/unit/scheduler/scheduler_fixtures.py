"""Builders for scheduler unit tests: Node and Pod objects as plain dicts, and a scheduler
(no API client) whose cache holds them."""

from __future__ import annotations

import random
from typing import Any

from kubesmith.scheduler.framework import CycleState, FitError
from kubesmith.scheduler.handle import Listers, StaticLister
from kubesmith.scheduler.podinfo import PodInfo
from kubesmith.scheduler.scheduler import Scheduler


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110", *,
         labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None,
         unschedulable: bool = False, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """A Ready node with allocatable resources."""
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name,
                         "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec,
            "status": {"allocatable": allocatable, "capacity": allocatable,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, cpu: str | None = None, memory: str | None = None, *,
        namespace: str = "default", labels: dict[str, str] | None = None,
        node_name: str | None = None, priority: int | None = None,
        **spec: Any) -> dict[str, Any]:
    """A pod with one container requesting ``cpu`` / ``memory``; ``spec`` keys are added
    to the pod spec as given."""
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if requests:
        container["resources"] = {"requests": requests}
    body: dict[str, Any] = {"containers": [container], **spec}
    if node_name:
        body["nodeName"] = node_name
    if priority is not None:
        body["priority"] = priority
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                         "labels": labels or {},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": body, "status": {"phase": "Pending"}}


def scheduler(nodes: list[dict[str, Any]], pods: list[dict[str, Any]] | None = None,
              *, listers: Listers | None = None, percentage: int | None = None,
              seed: int = 1) -> Scheduler:
    """A scheduler without an API client whose cache holds ``nodes`` and the assigned
    ``pods`` (pending ones are queued)."""
    s = Scheduler(None, listers=listers or Listers(pods=StaticLister()),
                  percentage_of_nodes_to_score=percentage, rng=random.Random(seed))
    for n in nodes:
        s.on_node_add(n)
    for p in pods or ():
        s.on_pod_add(p)
    return s


def decide(s: Scheduler, pod_obj: dict[str, Any]) -> str:
    """The node the scheduler picks for ``pod_obj``, or the FitError message."""
    try:
        return s.framework.schedule(CycleState(), PodInfo(pod_obj), s.cache.node_list).node
    except FitError as exc:
        return str(exc)


def place(s: Scheduler, pod_obj: dict[str, Any]) -> str:
    """Decide and assume (as a scheduling cycle does); returns the node."""
    info = PodInfo(pod_obj)
    node_name = s.framework.schedule(CycleState(), info, s.cache.node_list).node
    s.cache.assume_pod(info, node_name)
    return node_name
