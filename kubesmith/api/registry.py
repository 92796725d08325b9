"""The live set of served resource types: the built-ins plus custom resources.

CustomResourceDefinitions add and remove types while the server runs, so discovery, OpenAPI
and routing all read this registry rather than the static table. ``generation`` increases
on every change so cached discovery documents know when to rebuild.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kubesmith.api.resource_types import BUILTIN, GROUP_ORDER, ResourceType


class Registry:
    """Resource types by (group, version, plural) and by (group, kind)."""

    def __init__(self, types: Iterable[ResourceType] = BUILTIN) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self.generation = 0
        for rt in types:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        self.generation += 1

    def remove(self, group: str, version: str, plural: str) -> None:
        if self._by_path.pop((group, version, plural), None) is not None:
            self.generation += 1

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def for_kind(self, group: str, version: str, kind: str) -> ResourceType | None:
        for rt in self._by_path.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        return None

    def all(self) -> list[ResourceType]:
        return list(self._by_path.values())

    def versions(self, group: str) -> list[str]:
        """Served versions of a group, the preferred one first (then by Kubernetes'
        version priority: GA before beta before alpha, higher numbers first)."""
        found = {rt.version for rt in self._by_path.values() if rt.group == group}
        preferred = {rt.version for rt in self._by_path.values()
                     if rt.group == group and rt.preferred}
        return sorted(found, key=lambda v: (v not in preferred, version_priority(v)))

    def groups(self) -> list[str]:
        """Group names, in kube-apiserver's order, custom groups after the built-ins."""
        names = {rt.group for rt in self._by_path.values()}
        known = [g for g in GROUP_ORDER if g in names]
        return known + sorted(names - set(GROUP_ORDER))

    def resources(self, group: str, version: str) -> list[ResourceType]:
        return sorted((rt for rt in self._by_path.values()
                       if rt.group == group and rt.version == version),
                      key=lambda rt: rt.plural)


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key for Kubernetes versions: v2 < v1 < v1beta2 < v1beta1 < v1alpha1 < other.

    Lower sorts first, matching upstream's ``CompareKubeAwareVersionStrings``.
    """
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor)
