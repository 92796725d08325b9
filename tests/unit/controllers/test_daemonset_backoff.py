"""The DaemonSet controller's failed-pod backoff."""

from __future__ import annotations

from kubesmith.controllers.daemonset.backoff import FailedPodBackoff


def test_backoff_doubles_caps_and_resets_after_quiet_period() -> None:
    backoff = FailedPodBackoff(initial=1.0, maximum=4.0)
    assert backoff.in_backoff("k", now=0.0) is None
    backoff.step("k", now=0.0)
    assert backoff.in_backoff("k", now=0.5) == 0.5
    assert backoff.in_backoff("k", now=1.0) is None
    for stamp in (1.0, 3.0, 7.0):
        backoff.step("k", now=stamp)
    assert backoff.in_backoff("k", now=7.0) == 4.0  # 1 -> 2 -> 4 -> capped at 4
    backoff.step("k", now=100.0)  # quiet for more than twice the maximum: start over
    assert backoff.in_backoff("k", now=100.0) == 1.0
    backoff.gc(now=1000.0)
    assert backoff.in_backoff("k", now=1000.0) is None
