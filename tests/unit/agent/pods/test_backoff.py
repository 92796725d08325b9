"""Crash-loop and image-pull back-off: 10 s doubling to 300 s, reset after 10 minutes."""

from __future__ import annotations

import pytest

from kubesmith.agent.pods.backoff import Backoff, go_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_restart_is_immediate_then_delays_double_to_the_cap() -> None:
    clock = Clock()
    backoff = Backoff(clock=clock)
    delays = []
    finished = clock.now
    for _ in range(8):
        # The container just exited: may it restart now?
        if backoff.is_in_backoff_since("c", finished):
            clock.now += backoff.remaining_since("c", finished)
            assert not backoff.is_in_backoff_since("c", finished)
        backoff.next("c", finished)
        delays.append(backoff.get("c"))
        clock.now += 1.0          # it runs a second and crashes again
        finished = clock.now
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]


def test_in_backoff_right_after_a_crash() -> None:
    clock = Clock()
    backoff = Backoff(clock=clock)
    assert not backoff.is_in_backoff_since("c", clock.now)   # never crashed before
    backoff.next("c", clock.now)
    clock.now += 3
    finished = clock.now
    assert backoff.is_in_backoff_since("c", finished)
    clock.now += 9.9
    assert backoff.is_in_backoff_since("c", finished)
    clock.now += 0.2
    assert not backoff.is_in_backoff_since("c", finished)


def test_running_ten_minutes_resets_the_delay() -> None:
    clock = Clock()
    backoff = Backoff(clock=clock)
    for _ in range(4):
        backoff.next("c", clock.now)
    assert backoff.get("c") == 80
    clock.now += 601          # ran cleanly for over 2 x 300 s
    assert not backoff.is_in_backoff_since("c", clock.now)
    backoff.next("c", clock.now)
    assert backoff.get("c") == 10


def test_image_pull_backoff_counts_from_the_last_attempt() -> None:
    clock = Clock()
    backoff = Backoff(clock=clock)
    backoff.next("uid_img", clock.now)
    clock.now += 5
    assert backoff.is_in_backoff_since_update("uid_img", clock.now)
    assert backoff.remaining_since_update("uid_img") == pytest.approx(5)
    clock.now += 5
    assert not backoff.is_in_backoff_since_update("uid_img", clock.now)


def test_forget_and_gc() -> None:
    clock = Clock()
    backoff = Backoff(clock=clock)
    backoff.next("web_ns_u1_app_1", clock.now)
    backoff.next("web_ns_u2_app_1", clock.now)
    backoff.forget("web_ns_u1_")
    assert backoff.get("web_ns_u1_app_1") == 0 and backoff.get("web_ns_u2_app_1") == 10
    clock.now += 601
    backoff.gc()
    assert backoff.get("web_ns_u2_app_1") == 0


@pytest.mark.parametrize(("seconds", "text"), [
    (10, "10s"), (80, "1m20s"), (160, "2m40s"), (300, "5m0s"), (1.2345, "1.2345s"),
    (0.313, "313ms")])
def test_go_durations(seconds: float, text: str) -> None:
    assert go_seconds(seconds) == text
