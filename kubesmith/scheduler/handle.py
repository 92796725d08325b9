"""What plugins are built from (upstream ``framework.Handle``): the node cache, read access
to the other objects they consult, the API client for the plugins that write (binding,
volume binding, preemption) and the event recorder.

Listers are anything with ``get(key)`` and ``list()`` — an :class:`~kubesmith.client.Informer`
in the running scheduler, a :class:`StaticLister` over plain dicts in unit tests.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from kubesmith.api.types import Obj
from kubesmith.client.informer import object_key
from kubesmith.scheduler.cache import SchedulerCache

if TYPE_CHECKING:
    from kubesmith.client.events import EventRecorder
    from kubesmith.client.rest import Client
    from kubesmith.scheduler.framework import Framework
    from kubesmith.scheduler.queue import SchedulingQueue


#: The index (by ``metadata.namespace``) listers of namespaced objects offer through
#: ``by_index``; :func:`index_by_namespace` computes it.
NAMESPACE_INDEX = "namespace"


def index_by_namespace(obj: Obj) -> list[str]:
    """The :data:`NAMESPACE_INDEX` values of ``obj``."""
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


class Lister(Protocol):
    """Read access to cached objects by ``namespace/name`` (or ``name``)."""

    def get(self, key: str) -> Obj | None:
        """The object, if cached."""

    def list(self) -> list[Obj]:
        """Every cached object."""


class NamespacedLister(Lister, Protocol):
    """A :class:`Lister` that also finds a namespace's objects without a scan."""

    def by_index(self, name: str, value: str) -> list[Obj]:
        """The objects index ``name`` files under ``value`` (:data:`NAMESPACE_INDEX`)."""


class StaticLister:
    """A :class:`Lister` over a fixed set of objects (tests, or a disabled resource)."""

    def __init__(self, objects: Iterable[Obj] = ()) -> None:
        self._objects = {object_key(o): o for o in objects}

    def get(self, key: str) -> Obj | None:
        """The object, if present."""
        return self._objects.get(key)

    def list(self) -> list[Obj]:
        """Every object."""
        return [*self._objects.values()]

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        """The objects in namespace ``value`` (only :data:`NAMESPACE_INDEX` exists)."""
        if name != NAMESPACE_INDEX:
            raise KeyError(name)
        return [o for o in self._objects.values() if index_by_namespace(o) == [value]]

    def put(self, obj: Obj) -> None:
        """Add or replace an object."""
        self._objects[object_key(obj)] = obj


@dataclass(slots=True)
class Listers:
    """The cached objects plugins read besides nodes and pods."""

    namespaces: Lister = field(default_factory=StaticLister)
    pvcs: Lister = field(default_factory=StaticLister)
    pvs: Lister = field(default_factory=StaticLister)
    storage_classes: Lister = field(default_factory=StaticLister)
    pdbs: Lister = field(default_factory=StaticLister)
    pods: Lister = field(default_factory=StaticLister)
    # What PodTopologySpread's system default constraints select a pod's siblings by.
    services: NamespacedLister = field(default_factory=StaticLister)
    replication_controllers: Lister = field(default_factory=StaticLister)
    replica_sets: Lister = field(default_factory=StaticLister)
    stateful_sets: Lister = field(default_factory=StaticLister)


@dataclass(slots=True)
class Handle:
    """Shared by every plugin of a profile (see the module docstring)."""

    cache: SchedulerCache
    listers: Listers = field(default_factory=Listers)
    scheduler_name: str = "default-scheduler"
    client: Client | None = None
    recorder: EventRecorder | None = None
    #: Set once the framework is built (preemption re-runs its filters).
    framework: Framework | None = None
    #: Set by the scheduler (preemption clears nominations through it).
    queue: SchedulingQueue | None = None

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        """The labels of namespace ``name`` ({} when unknown)."""
        ns = self.listers.namespaces.get(name)
        if ns is None:
            return {}
        labels: Mapping[str, str] = (ns.get("metadata") or {}).get("labels") or {}
        return labels
