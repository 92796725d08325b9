"""Resource amounts as plain integers, the way kube-scheduler's ``framework.Resource`` holds
them: CPU in millicores, everything else in whole units (bytes, pods, devices).

Quantities are parsed once per distinct string (``"100m"``, ``"64Mi"`` repeat across
thousands of pods), so building the request vector of a pod costs a few dict lookups.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubesmith.api.validation.quantity import QuantityError, parse_quantity

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"

#: What a container without a CPU / memory request counts as when *scoring* (upstream's
#: ``DefaultMilliCPURequest`` / ``DefaultMemoryRequest``), so best-effort pods still spread.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

_NATIVE = frozenset((CPU, MEMORY, EPHEMERAL_STORAGE, PODS))


@functools.lru_cache(maxsize=8192)
def _parse(text: str) -> tuple[int, int]:
    """(milli-units, units), both rounded up like upstream's MilliValue/Value."""
    try:
        q = parse_quantity(text)
    except QuantityError:
        return 0, 0
    return q.milli_value(), q.value()


def milli_value(raw: Any) -> int:
    """A quantity in milli-units (CPU); 0 for a missing or malformed value."""
    if raw is None:
        return 0
    return _parse(str(raw))[0]


def value(raw: Any) -> int:
    """A quantity in whole units (bytes, counts); 0 for a missing or malformed value."""
    if raw is None:
        return 0
    return _parse(str(raw))[1]


def is_scalar_resource(name: str) -> bool:
    """Extended resources (``example.com/gpu``), hugepages and attachable volumes: the
    resources upstream keeps in ``ScalarResources`` and checks by name."""
    if name.startswith(("hugepages-", "attachable-volumes-")):
        return True
    if "/" not in name or name.startswith("requests."):
        return False
    domain = name.split("/", 1)[0]
    # kubernetes.io-prefixed names are native resources, not extended ones.
    return not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


@dataclass(slots=True)
class Resources:
    """A resource vector: requests of a pod, or allocatable/requested of a node."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_list(cls, resources: Mapping[str, Any] | None) -> Resources:
        """A ``v1.ResourceList`` (``{"cpu": "500m", ...}``); ``pods`` is not part of it."""
        out = cls()
        if resources:
            out.add_list(resources)
        return out

    def add_list(self, resources: Mapping[str, Any]) -> None:
        """Add a ``v1.ResourceList``."""
        for name, raw in resources.items():
            if name == CPU:
                self.milli_cpu += milli_value(raw)
            elif name == MEMORY:
                self.memory += value(raw)
            elif name == EPHEMERAL_STORAGE:
                self.ephemeral_storage += value(raw)
            elif is_scalar_resource(name):
                self.scalar[name] = self.scalar.get(name, 0) + value(raw)

    def add(self, other: Resources) -> None:
        """In-place sum."""
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral_storage += other.ephemeral_storage
        for name, amount in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + amount

    def sub(self, other: Resources) -> None:
        """In-place difference."""
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.ephemeral_storage -= other.ephemeral_storage
        for name, amount in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) - amount

    def set_max(self, other: Resources) -> None:
        """In-place element-wise maximum."""
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for name, amount in other.scalar.items():
            self.scalar[name] = max(self.scalar.get(name, 0), amount)

    def copy(self) -> Resources:
        """An independent copy."""
        return Resources(self.milli_cpu, self.memory, self.ephemeral_storage,
                         dict(self.scalar))

    def is_zero(self) -> bool:
        """True when nothing is requested."""
        return not (self.milli_cpu or self.memory or self.ephemeral_storage
                    or any(self.scalar.values()))

    def get(self, name: str) -> int:
        """The amount of one resource by name."""
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == EPHEMERAL_STORAGE:
            return self.ephemeral_storage
        return self.scalar.get(name, 0)


def _container_requests(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((container.get("resources") or {}).get("requests")) or {}


def _non_zero(requests: Mapping[str, Any]) -> Resources:
    """CPU and memory of one container with upstream's scoring defaults for missing ones."""
    cpu = requests.get(CPU)
    mem = requests.get(MEMORY)
    return Resources(milli_value(cpu) if cpu is not None else DEFAULT_MILLI_CPU_REQUEST,
                     value(mem) if mem is not None else DEFAULT_MEMORY_REQUEST)


def pod_requests(spec: Mapping[str, Any], *, non_zero: bool = False) -> Resources:
    """The effective requests of a pod (upstream ``resourcehelper.PodRequests``).

    Containers run together, so their requests add up. Init containers run one at a
    time before them, so a pod needs the largest of them — plus the sidecars
    (``restartPolicy: Always`` init containers) started before each, which keep running
    and also count towards the steady state. Pod-level ``spec.resources.requests`` replace
    the aggregate for the resources they name, and ``spec.overhead`` (RuntimeClass) is
    added on top. With ``non_zero`` only CPU and memory are computed, with the scoring
    defaults for containers that request none.
    """
    convert = _non_zero if non_zero else Resources.from_list
    total = Resources()
    for container in spec.get("containers") or ():
        total.add(convert(_container_requests(container)))
    init_max = Resources()
    sidecars = Resources()
    for container in spec.get("initContainers") or ():
        reqs = convert(_container_requests(container))
        if container.get("restartPolicy") == "Always":
            total.add(reqs)
            sidecars.add(reqs)
            init_max.set_max(sidecars)
        else:
            reqs.add(sidecars)
            init_max.set_max(reqs)
    total.set_max(init_max)
    pod_level = _container_requests(spec)
    if pod_level:
        if CPU in pod_level:
            total.milli_cpu = milli_value(pod_level[CPU])
        if MEMORY in pod_level:
            total.memory = value(pod_level[MEMORY])
        if not non_zero:
            for name, raw in pod_level.items():
                if name.startswith("hugepages-"):
                    total.scalar[name] = value(raw)
    overhead = spec.get("overhead")
    if overhead:
        extra = Resources.from_list(overhead)
        if non_zero:
            extra = Resources(extra.milli_cpu, extra.memory)
        total.add(extra)
    return total
