"""The node conditions the agent reports — Ready, MemoryPressure, DiskPressure and
PIDPressure — from what it observes, with the kubelet's reasons and messages.

Pressure follows the kubelet's hard eviction thresholds (``--eviction-hard``): by default
``memory.available<100Mi``, ``nodefs.available<10%``, ``nodefs.inodesFree<5%``,
``imagefs.available<15%`` and ``imagefs.inodesFree<5%``. Images live under the agent's
root directory, on the same filesystem as pod data, so the ``imagefs`` signals read the same
filesystem as ``nodefs`` (as upstream does when there is no separate image filesystem) —
which makes the 15% free-space threshold the one that counts. Giving ``--eviction-hard``
replaces all defaults, as upstream does.

The taints that follow from these conditions (``node.kubernetes.io/memory-pressure``...)
are not the agent's business: the node lifecycle controller adds them.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kubesmith.agent.node.nodeobjects import (
    DISK_OK,
    DISK_PRESSURE,
    MEMORY_OK,
    MEMORY_PRESSURE,
    PID_OK,
    PID_PRESSURE,
    READY,
    NodeCondition,
)
from kubesmith.api.validation.quantity import QuantityError, parse_quantity

DEFAULT_EVICTION_HARD: Mapping[str, str] = {
    "memory.available": "100Mi",
    "nodefs.available": "10%",
    "nodefs.inodesFree": "5%",
    "imagefs.available": "15%",
    "imagefs.inodesFree": "5%",
}
SIGNALS = ("memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available",
           "imagefs.inodesFree", "pid.available")


@dataclass(frozen=True, slots=True)
class Threshold:
    """An eviction threshold: an absolute amount or a fraction of the capacity."""

    amount: int | None = None
    fraction: float | None = None

    def of(self, capacity: int) -> int:
        """The threshold in units of ``capacity`` (bytes, inodes, pids)."""
        if self.amount is not None:
            return self.amount
        # Upstream keeps percentages as float32: match its rounding to the byte.
        fraction = struct.unpack("f", struct.pack("f", self.fraction or 0.0))[0]
        return int(float(capacity) * fraction)


def parse_threshold(text: str) -> Threshold:
    """``100Mi`` or ``10%``."""
    text = text.strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            raise ValueError(f"invalid percentage: {text!r}") from None
        if not 0 <= percent <= 100:
            raise ValueError(f"invalid percentage: {text!r}: must be between 0% and 100%")
        return Threshold(fraction=percent / 100)
    try:
        quantity = parse_quantity(text)
    except QuantityError as exc:
        raise ValueError(f"invalid quantity {text!r}: {exc}") from None
    if quantity.sign() < 0:
        raise ValueError(f"eviction threshold must be positive: {text!r}")
    return Threshold(amount=quantity.value())


def parse_eviction_hard(text: str) -> dict[str, Threshold]:
    """``--eviction-hard``: ``memory.available<100Mi,nodefs.available<10%``."""
    out: dict[str, Threshold] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        signal, sep, value = item.partition("<")
        signal = signal.strip()
        if not sep:
            raise ValueError(f"eviction threshold {item!r}: expected <signal><<quantity>")
        if signal not in SIGNALS:
            raise ValueError(f"unsupported eviction signal {signal}")
        out[signal] = parse_threshold(value)
    return out


def default_eviction_hard() -> dict[str, Threshold]:
    """The kubelet's default hard eviction thresholds on Linux."""
    return {signal: parse_threshold(value) for signal, value in DEFAULT_EVICTION_HARD.items()}


@dataclass(frozen=True, slots=True)
class Observations:
    """What the host looked like at one moment (see :meth:`HostProbe.observe`)."""

    memory_capacity: int
    memory_available: int
    fs_capacity: int
    fs_available: int
    fs_inodes: int
    fs_inodes_free: int
    pid_max: int
    pids_in_use: int


def _below(thresholds: Mapping[str, Threshold], signal: str, available: int,
           capacity: int) -> bool:
    threshold = thresholds.get(signal)
    return threshold is not None and available < threshold.of(capacity)


def pressure_conditions(seen: Observations, thresholds: Mapping[str, Threshold]
                        ) -> tuple[NodeCondition, NodeCondition, NodeCondition]:
    """MemoryPressure, DiskPressure and PIDPressure for ``seen``."""
    memory = _below(thresholds, "memory.available", seen.memory_available,
                    seen.memory_capacity)
    disk = any(_below(thresholds, f"{fs}.available", seen.fs_available, seen.fs_capacity) or
               _below(thresholds, f"{fs}.inodesFree", seen.fs_inodes_free, seen.fs_inodes)
               for fs in ("nodefs", "imagefs"))
    pids = _below(thresholds, "pid.available", seen.pid_max - seen.pids_in_use, seen.pid_max)
    return (MEMORY_PRESSURE if memory else MEMORY_OK, DISK_PRESSURE if disk else DISK_OK,
            PID_PRESSURE if pids else PID_OK)


def ready_condition(errors: Sequence[str]) -> NodeCondition:
    """Ready, or not ready with the errors that stop it (joined as upstream aggregates
    errors: one alone, several as ``[a, b]``)."""
    if not errors:
        return READY
    message = errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]"
    return ("Ready", "False", "KubeletNotReady", message)


def node_conditions(seen: Observations, thresholds: Mapping[str, Threshold],
                    errors: Sequence[str]) -> tuple[NodeCondition, ...]:
    """Every condition the agent reports, in upstream's order."""
    return (*pressure_conditions(seen, thresholds), ready_condition(errors))


#: The event the kubelet records when a condition turns to a status.
CONDITION_EVENTS: Mapping[tuple[str, str], str] = {
    ("MemoryPressure", "False"): "NodeHasSufficientMemory",
    ("MemoryPressure", "True"): "NodeHasInsufficientMemory",
    ("DiskPressure", "False"): "NodeHasNoDiskPressure",
    ("DiskPressure", "True"): "NodeHasDiskPressure",
    ("PIDPressure", "False"): "NodeHasSufficientPID",
    ("PIDPressure", "True"): "NodeHasInsufficientPID",
    ("Ready", "True"): "NodeReady",
    ("Ready", "False"): "NodeNotReady",
}


def transition_events(before: Sequence[object], after: Sequence[NodeCondition]) -> list[str]:
    """The event reasons for conditions of ``after`` whose status differs from the one in
    ``before`` (the Node's current conditions) — including ones reported for the first
    time."""
    previous = {c.get("type"): c.get("status") for c in before if isinstance(c, dict)}
    return [CONDITION_EVENTS[(type_, status)] for type_, status, _, _ in after
            if previous.get(type_) != status and (type_, status) in CONDITION_EVENTS]
