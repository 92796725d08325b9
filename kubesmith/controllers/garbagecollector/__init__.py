"""The garbage collector: a dependency graph of every object built from ownerReferences,
and workers deleting what lost its owners (see :mod:`.controller`)."""

from kubesmith.controllers.garbagecollector.controller import GarbageCollector

__all__ = ["GarbageCollector"]
