"""The scheduling queue: priority order, backoff, unschedulable pods moved only by events
that can help them, gates, and the scheduler's event handlers feeding it."""

from __future__ import annotations

from kubesmith.scheduler import queue as q
from kubesmith.scheduler.podinfo import PodInfo
from kubesmith.scheduler.queue import SchedulingQueue
from tests.unit.scheduler.scheduler_fixtures import node, pod, scheduler


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _queue(clock: FakeClock) -> SchedulingQueue:
    return SchedulingQueue({"NodeResourcesFit": (q.NODE_ADD, q.ASSIGNED_POD_DELETE),
                            "NodeAffinity": (q.NODE_ADD, q.NODE_UPDATE)}, clock=clock)


def test_priority_then_arrival_order() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    for name, priority in (("low", 0), ("high", 100), ("low2", 0), ("mid", 50)):
        clock.now += 1
        queue.add(PodInfo(pod(name, priority=priority)))
    order = []
    while (qp := queue.pop_nowait()) is not None:
        order.append(qp.info.name)
    assert order == ["high", "mid", "low", "low2"]


def test_backoff_doubles_up_to_ten_seconds() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    queue.add(PodInfo(pod("p")))
    waits = []
    for _ in range(6):
        qp = queue.pop_nowait()
        assert qp is not None
        queue.add_backoff(qp)
        assert queue.pop_nowait() is None
        waits.append(qp.backoff_expiry - clock.now)
        clock.now = qp.backoff_expiry
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_unschedulable_pods_move_only_on_helpful_events() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    queue.add(PodInfo(pod("p")))
    qp = queue.pop_nowait()
    assert qp is not None
    queue.add_unschedulable(qp, {"NodeAffinity"}, queue.scheduling_cycle)
    assert queue.where("default/p") == "unschedulable"
    assert queue.move_all(q.ASSIGNED_POD_DELETE) == 0  # cannot help a selector
    assert queue.move_all(q.NODE_UPDATE) == 1
    # Still within its 1 s backoff: to backoffQ, then active when it expires.
    assert queue.where("default/p") == "backoff"
    assert queue.pop_nowait() is None
    clock.now += 1.0
    assert queue.pop_nowait() is qp


def test_an_event_during_the_attempt_sends_the_pod_to_backoff() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    queue.add(PodInfo(pod("p")))
    qp = queue.pop_nowait()
    assert qp is not None
    cycle = queue.scheduling_cycle
    queue.move_all(q.NODE_ADD)  # a node joined while the pod was being scheduled
    queue.add_unschedulable(qp, {"NodeResourcesFit"}, cycle)
    assert queue.where("default/p") == "backoff"


def test_unschedulable_pods_are_retried_after_five_minutes() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    queue.add(PodInfo(pod("p")))
    qp = queue.pop_nowait()
    assert qp is not None
    queue.add_unschedulable(qp, {"NodeAffinity"}, queue.scheduling_cycle)
    clock.now += 299
    assert queue.flush_unschedulable_leftover() == 0
    clock.now += 1
    assert queue.flush_unschedulable_leftover() == 1
    assert queue.pop_nowait() is qp


def test_gated_pods_wait_for_the_gates_to_go() -> None:
    clock = FakeClock()
    queue = _queue(clock)
    gated = pod("g", schedulingGates=[{"name": "example.com/wait"}])
    queue.add(PodInfo(gated))
    assert queue.pop_nowait() is None and queue.where("default/g") == "gated"
    queue.update(PodInfo(pod("g")))
    popped = queue.pop_nowait()
    assert popped is not None and popped.info.name == "g"


def test_handlers_route_pods_to_queue_and_cache() -> None:
    s = scheduler([node("a")])
    pending = pod("p", "1")
    s.on_pod_add(pending)
    assert s.queue.where("default/p") == "active"
    s.on_pod_add(pod("other", schedulerName="someone-else"))
    assert s.queue.where("default/other") is None
    bound = pod("p", "1", node_name="a")
    s.on_pod_update(pending, bound)
    assert s.queue.where("default/p") is None
    a = s.cache.node("a")
    assert a is not None and a.req_cpu == 1000
    done = pod("p", "1", node_name="a")
    done["status"]["phase"] = "Succeeded"
    s.on_pod_update(bound, done)  # finished pods free their resources
    assert a.req_cpu == 0


async def test_schedule_one_assumes_and_failed_pods_wait() -> None:
    s = scheduler([node("a", cpu="1")])
    s.on_pod_add(pod("fits", "1"))
    s.on_pod_add(pod("too-big", "2"))
    qp = s.queue.pop_nowait()
    assert qp is not None
    s.framework.post_filter_plugins.clear()  # no API: no preemption
    await s.schedule_popped(qp)
    assert s.cache.is_assumed("default/fits")
    qp = s.queue.pop_nowait()
    assert qp is not None
    await s.schedule_popped(qp)
    assert s.queue.where("default/too-big") == "unschedulable"
    # The assumed pod's deletion frees the CPU: the waiting pod is retried (after backoff).
    s.on_pod_delete(pod("fits", "1", node_name="a"))
    assert s.queue.where("default/too-big") == "backoff"
    for task in list(s._tasks):
        task.cancel()


def test_heartbeats_and_status_updates_do_not_wake_waiting_pods() -> None:
    s = scheduler([node("a", cpu="1")], [pod("running", "1", node_name="a")])
    s.on_pod_add(pod("waiting", "1"))
    qp = s.queue.pop_nowait()
    assert qp is not None
    s.queue.add_unschedulable(qp, {"NodeResourcesFit"}, s.queue.scheduling_cycle)
    old_node = node("a", cpu="1")
    beat = node("a", cpu="1")
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-01-01T00:00:10Z"
    s.on_node_update(old_node, beat)
    old_pod = pod("running", "1", node_name="a")
    running = pod("running", "1", node_name="a")
    running["status"]["phase"] = "Running"
    s.on_pod_update(old_pod, running)
    assert s.queue.where("default/waiting") == "unschedulable"
    bigger = node("a", cpu="2")
    s.on_node_update(old_node, bigger)  # allocatable grew: worth a retry
    assert s.queue.where("default/waiting") in ("backoff", "active")
