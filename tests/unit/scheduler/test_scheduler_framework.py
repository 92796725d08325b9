"""The framework's decision mechanics: failure messages, node sampling, scoring and the
assume cache."""

from __future__ import annotations

import pytest

from kubesmith.scheduler.cache import SchedulerCache
from kubesmith.scheduler.framework import (
    CycleState,
    Diagnosis,
    default_normalize,
    fit_error_message,
    num_feasible_nodes_to_find,
    unresolvable,
    unschedulable,
)
from kubesmith.scheduler.podinfo import PodInfo
from kubesmith.scheduler.resources import pod_requests
from tests.unit.scheduler.scheduler_fixtures import decide, node, place, pod, scheduler


def test_fit_error_message_counts_and_sorts_reasons_like_upstream() -> None:
    diagnosis = Diagnosis(node_statuses={
        "a": unschedulable("Insufficient cpu"),
        "b": unresolvable("node(s) didn't match Pod's node affinity/selector"),
        "c": unresolvable("node(s) didn't match Pod's node affinity/selector")},
        post_filter_msg="preemption: 0/3 nodes are available: 3 Preemption is not helpful "
                        "for scheduling.")
    assert fit_error_message(3, diagnosis) == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node "
        "affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not "
        "helpful for scheduling.")


def test_fit_error_message_prefers_the_prefilter_message() -> None:
    diagnosis = Diagnosis(node_statuses={"a": unresolvable("x")},
                          pre_filter_msg="pod has unbound immediate PersistentVolumeClaims")
    assert fit_error_message(1, diagnosis) == \
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."


def test_one_node_with_two_reasons_counts_both() -> None:
    diagnosis = Diagnosis(node_statuses={
        "a": unschedulable("Insufficient cpu", "Insufficient memory")})
    assert fit_error_message(1, diagnosis) == \
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."


@pytest.mark.parametrize(("percentage", "nodes", "expected"), [
    (None, 50, 50),  # fewer than 100 nodes: all
    (None, 100, 100),
    (None, 1000, 420),  # 50 - 1000/125 = 42%
    (None, 5000, 500),  # 50 - 40 = 10%
    (None, 6000, 300),  # 50 - 48 = 2% -> floor of 5%
    (None, 1500, 570),
    (10, 500, 100),  # never fewer than 100
    (30, 1000, 300),
    (100, 1000, 1000),
])
def test_num_feasible_nodes_to_find(percentage: int | None, nodes: int, expected: int) -> None:
    assert num_feasible_nodes_to_find(percentage, nodes) == expected


def test_filtering_stops_after_enough_feasible_nodes_and_rotates_the_start() -> None:
    s = scheduler([node(f"n{i:03d}") for i in range(200)], percentage=10)
    state = CycleState()
    feasible, _ = s.framework.find_feasible_nodes(state, PodInfo(pod("p", "100m")),
                                                  s.cache.node_list)
    assert [n.name for n in feasible] == [f"n{i:03d}" for i in range(100)]
    assert s.framework.next_start_node_index == 100
    feasible, _ = s.framework.find_feasible_nodes(CycleState(), PodInfo(pod("q", "100m")),
                                                  s.cache.node_list)
    assert feasible[0].name == "n100"
    assert s.framework.next_start_node_index == 0


def test_processed_count_includes_rejected_nodes() -> None:
    nodes = [node(f"n{i:03d}", cpu="1" if i % 2 else "100m") for i in range(300)]
    s = scheduler(nodes, percentage=10)  # 100 of 300 wanted
    feasible, _ = s.framework.find_feasible_nodes(CycleState(), PodInfo(pod("p", "500m")),
                                                  s.cache.node_list)
    assert len(feasible) == 100
    assert all(int(n.name[1:]) % 2 for n in feasible)
    # The 100th feasible node is n199: 200 nodes were examined.
    assert s.framework.next_start_node_index == 200


def test_least_allocated_spreads_and_assumed_pods_count_at_once() -> None:
    s = scheduler([node("a"), node("b"), node("c")])
    placed = [place(s, pod(f"p{i}", "1", "1Gi")) for i in range(6)]
    assert sorted(placed) == ["a", "a", "b", "b", "c", "c"]
    info = s.cache.node("a")
    assert info is not None
    assert (info.req_cpu, info.req_memory, len(info.pods)) == (2000, 2 * 2**30, 2)


def test_most_allocated_packs() -> None:
    from kubesmith.scheduler.scheduler import Scheduler

    s = Scheduler(None, scoring_strategy="MostAllocated")
    for name in ("a", "b", "c"):
        s.on_node_add(node(name))
    placed = {place(s, pod(f"p{i}", "1", "1Gi")) for i in range(4)}
    assert len(placed) == 1


def test_default_normalize() -> None:
    scores = [0, 5, 10]
    default_normalize(scores)
    assert scores == [0, 50, 100]
    scores = [0, 1, 2]
    default_normalize(scores, reverse=True)
    assert scores == [100, 50, 0]
    scores = [0, 0]
    default_normalize(scores, reverse=True)
    assert scores == [100, 100]


def test_no_nodes_at_all() -> None:
    from kubesmith.scheduler.framework import NoNodesAvailable

    s = scheduler([])
    with pytest.raises(NoNodesAvailable, match="no nodes available to schedule pods"):
        s.framework.schedule(CycleState(), PodInfo(pod("p")), s.cache.node_list)


def test_cache_confirms_forgets_and_removes() -> None:
    cache = SchedulerCache()
    cache.add_node(node("a"))
    info = PodInfo(pod("p", "1"))
    cache.assume_pod(info, "a")
    a = cache.node("a")
    assert a is not None
    assert a.req_cpu == 1000 and cache.is_assumed("default/p")
    bound = pod("p", "1", node_name="a")
    cache.add_pod(bound)  # the watch confirms
    assert not cache.is_assumed("default/p") and a.req_cpu == 1000
    cache.forget_pod("default/p")  # confirmed pods are not forgotten
    assert a.req_cpu == 1000
    cache.remove_pod(bound)
    assert a.req_cpu == 0 and not a.pods
    cache.assume_pod(PodInfo(pod("q", "2")), "a")
    cache.forget_pod("default/q")
    assert a.req_cpu == 0


def test_pods_on_unknown_nodes_wait_for_the_node() -> None:
    cache = SchedulerCache()
    cache.add_pod(pod("p", "1", node_name="later"))
    assert cache.node("later") is None and not cache.node_list
    cache.add_node(node("later"))
    later = cache.node("later")
    assert later is not None and later.req_cpu == 1000
    cache.remove_node("later")
    assert cache.node("later") is None and not cache.node_list


def test_pod_requests_init_containers_sidecars_and_overhead() -> None:
    spec = {
        "initContainers": [
            {"name": "init1", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
            {"name": "sidecar", "restartPolicy": "Always",
             "resources": {"requests": {"cpu": "500m"}}},
            {"name": "init2", "resources": {"requests": {"cpu": "1", "memory": "3Gi"}}},
        ],
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "500m"}}},
        ],
        "overhead": {"cpu": "100m"},
    }
    req = pod_requests(spec)
    # containers 1.5 + sidecar 0.5 = 2 CPU; init1 alone 2; init2 + sidecar 1.5 -> max 2,
    # plus overhead. Memory: containers 1Gi vs init2 3Gi -> 3Gi.
    assert req.milli_cpu == 2100
    assert req.memory == 3 * 2**30
    non_zero = pod_requests(spec, non_zero=True)
    # The sidecar has no memory request: the scoring default of 200Mi counts for it, so
    # init2 + sidecar needs 3Gi + 200Mi.
    assert non_zero.memory == 3 * 2**30 + 200 * 2**20


def test_unschedulable_message_end_to_end() -> None:
    s = scheduler([node("a", cpu="1"), node("b", labels={"disk": "hdd"}),
                   node("c", labels={"disk": "hdd"})])
    assert decide(s, pod("p", "2", nodeSelector={"disk": "ssd"})) == \
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    s = scheduler([node("a", cpu="1"), node("b", labels={"disk": "hdd"}),
                   node("c", labels={"disk": "hdd"})])
    assert decide(s, pod("p", "2", nodeSelector={"disk": "hdd"})) in ("b", "c")
    s = scheduler([node("a", cpu="1", labels={"disk": "ssd"}), node("b"), node("c")])
    assert decide(s, pod("p", "2", nodeSelector={"disk": "ssd"})) == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node "
        "affinity/selector.")
