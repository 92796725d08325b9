"""Rate limiting of NoExecute tainting per zone (upstream's ``RateLimitedTimedQueue`` and
zone disruption states).

Tainting a node NoExecute evicts its pods, so the node lifecycle controller taints at most
``--node-eviction-rate`` nodes per second per zone (burst 1). A zone where many nodes fail
at once is more likely a network partition than dead machines: a partially disrupted zone
slows to the secondary rate (or stops in small clusters), and when every zone is fully
disrupted the controller stops tainting altogether.
"""

from __future__ import annotations

import enum
import heapq
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

#: Upstream defaults of --node-eviction-rate, --secondary-node-eviction-rate,
#: --large-cluster-size-threshold and --unhealthy-zone-threshold.
EVICTION_QPS = 0.1
SECONDARY_EVICTION_QPS = 0.01
LARGE_CLUSTER_THRESHOLD = 50
UNHEALTHY_ZONE_THRESHOLD = 0.55
EVICTION_BURST = 1


class ZoneState(enum.StrEnum):
    """The health of a zone."""

    INITIAL = "Initial"
    NORMAL = "Normal"
    FULL_DISRUPTION = "FullDisruption"
    PARTIAL_DISRUPTION = "PartialDisruption"


def compute_zone_state(ready_statuses: Sequence[str | None]) -> tuple[int, ZoneState]:
    """(not-ready nodes, state) from the Ready condition statuses of a zone's nodes
    (None: never posted)."""
    ready = sum(1 for s in ready_statuses if s == "True")
    not_ready = len(ready_statuses) - ready
    if ready == 0 and not_ready > 0:
        return not_ready, ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / (not_ready + ready) >= UNHEALTHY_ZONE_THRESHOLD:
        return not_ready, ZoneState.PARTIAL_DISRUPTION
    return not_ready, ZoneState.NORMAL


def zone_qps(state: ZoneState, zone_size: int) -> float:
    """The tainting rate for a zone in ``state``."""
    if state == ZoneState.PARTIAL_DISRUPTION:
        return SECONDARY_EVICTION_QPS if zone_size > LARGE_CLUSTER_THRESHOLD else 0.0
    return EVICTION_QPS


class TokenBucket:
    """``qps`` tokens per second up to ``burst``; a rate of 0 refuses everything."""

    def __init__(self, qps: float, burst: int = EVICTION_BURST,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def try_accept(self) -> bool:
        """Take a token if one is available."""
        if self.qps <= 0:
            return False
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.qps)
        self._updated = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def with_qps(self, qps: float) -> TokenBucket:
        """A bucket with a new rate that keeps the tokens saved so far."""
        swapped = TokenBucket(qps, self.burst, self._clock)
        swapped._tokens = min(self._tokens, float(self.burst))
        return swapped


@dataclass(order=True, slots=True)
class TimedValue:
    """A node waiting to be processed at ``process_at``."""

    process_at: float
    value: str = field(compare=False)
    uid: str = field(compare=False, default="")
    added_at: float = field(compare=False, default=0.0)


#: Returns (done, retry after seconds).
ActionFunc = Callable[[TimedValue], Awaitable[tuple[bool, float]]]


class RateLimitedTimedQueue:
    """Nodes waiting to be tainted, processed in time order at a limited rate. A value
    stays known after it was processed, so it is not queued again until :meth:`remove`
    (the node became healthy) clears it."""

    def __init__(self, qps: float = EVICTION_QPS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limiter = TokenBucket(qps, EVICTION_BURST, clock)
        self._clock = clock
        self._heap: list[TimedValue] = []
        self._known: set[str] = set()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, value: str, uid: str = "") -> bool:
        """Queue ``value`` unless it is known already."""
        if value in self._known:
            return False
        now = self._clock()
        self._known.add(value)
        heapq.heappush(self._heap, TimedValue(now, value, uid, now))
        return True

    def remove(self, value: str) -> bool:
        """Forget ``value`` (queued or processed); returns whether it was known."""
        if value not in self._known:
            return False
        self._known.discard(value)
        self._heap = [v for v in self._heap if v.value != value]
        heapq.heapify(self._heap)
        return True

    def swap_limiter(self, qps: float) -> None:
        """Change the rate (0 stops processing)."""
        if qps != self.limiter.qps:
            self.limiter = self.limiter.with_qps(qps)

    async def try_process(self, action: ActionFunc) -> None:
        """Process due values while the rate allows; a value the action could not finish
        is retried after the delay it asks for."""
        while self._heap:
            if not self.limiter.try_accept():
                return
            head = self._heap[0]
            now = self._clock()
            if now < head.process_at:
                return
            done, retry_after = await action(head)
            if not any(v is head for v in self._heap):
                continue  # removed while the action ran
            self._heap = [v for v in self._heap if v is not head]
            heapq.heapify(self._heap)
            if not done:
                head.process_at = now + retry_after + 1e-9
                heapq.heappush(self._heap, head)
