"""Which resources the API server serves, read through the discovery API, for components
that must handle every type, custom resources included (the garbage collector, the namespace
controller, the disruption controller's ``/scale`` lookups).

Legacy discovery, as client-go's ``ServerPreferredResources``: ``GET /api`` and ``GET /apis``
list the group versions (preferred version first), then ``GET /api/v1`` and
``GET /apis/<group>/<version>`` list each one's resources. A resource is reported once per
group, from the first (most preferred) version serving it; subresources (``pods/status``)
are left out. A group version whose document cannot be read is recorded in
:attr:`Discovery.failed` (client-go's ``ErrGroupDiscoveryFailed``) and the rest is still
returned: callers decide whether partial knowledge is enough.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from kubesmith.client.rest import ApiError, Client, Resource


@dataclass(frozen=True, slots=True)
class APIResource:
    """One resource as discovery describes it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: frozenset[str]
    #: the subresources served (``status``, ``scale``...)
    subresources: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        """``group/version`` (``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> Resource:
        """The client's address for this resource."""
        return Resource(self.group, self.version, self.plural, self.namespaced)

    @property
    def group_resource(self) -> str:
        """``plural.group`` (``pods.`` for the core group, as upstream's namespace
        conditions print it)."""
        return f"{self.plural}.{self.group}"

    def supports(self, *verbs: str) -> bool:
        """Whether every verb in ``verbs`` is served."""
        return all(v in self.verbs for v in verbs)


@dataclass(slots=True)
class Discovery:
    """The outcome of one discovery round."""

    #: The preferred version of every resource, in discovery order.
    resources: list[APIResource] = field(default_factory=list)
    #: Group versions whose document failed: ``group/version`` -> error text.
    failed: dict[str, str] = field(default_factory=dict)

    def error_message(self) -> str:
        """client-go's ``ErrGroupDiscoveryFailed`` text ('' when nothing failed)."""
        if not self.failed:
            return ""
        parts = sorted(f"{gv}: {err}" for gv, err in self.failed.items())
        return f"unable to retrieve the complete list of server APIs: {', '.join(parts)}"

    def mapper(self) -> RestMapper:
        """A kind -> resource mapping of what was found."""
        return RestMapper(self.resources)


class RestMapper:
    """Finds the resource serving ``apiVersion``/``kind`` (upstream's RESTMapper).

    An exact group/version/kind match wins; otherwise the preferred version of the same
    group and kind answers, since an object is the same in every version it is served in.
    """

    def __init__(self, resources: Iterable[APIResource] = ()) -> None:
        self._exact: dict[tuple[str, str, str], APIResource] = {}
        self._by_group_kind: dict[tuple[str, str], APIResource] = {}
        for r in resources:
            self._exact.setdefault((r.group, r.version, r.kind), r)
            self._by_group_kind.setdefault((r.group, r.kind), r)

    def resource_for(self, api_version: str, kind: str) -> APIResource | None:
        """The resource for ``apiVersion``/``kind``, or None when nothing serves it."""
        group, _, version = api_version.rpartition("/")
        return self._exact.get((group, version, kind)) or \
            self._by_group_kind.get((group, kind))


def parse_group_versions(core: Mapping[str, Any] | None,
                         groups: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """``(group, version)`` pairs from ``/api`` and ``/apis``, each group's preferred
    version first."""
    found: list[tuple[str, str]] = []
    for version in (core or {}).get("versions") or ():
        found.append(("", str(version)))
    for group in (groups or {}).get("groups") or ():
        name = str(group.get("name") or "")
        versions = [str(v.get("version") or "") for v in group.get("versions") or ()]
        preferred = str((group.get("preferredVersion") or {}).get("version") or "")
        if preferred in versions:
            versions.remove(preferred)
            versions.insert(0, preferred)
        found.extend((name, v) for v in versions if v)
    return found


def parse_resource_list(group: str, version: str,
                        document: Mapping[str, Any]) -> list[APIResource]:
    """The top-level resources of one ``APIResourceList``, each with its subresources."""
    items = [i for i in document.get("resources") or () if i.get("name")]
    subresources: dict[str, set[str]] = {}
    for item in items:
        plural, _, sub = str(item["name"]).partition("/")
        if sub:
            subresources.setdefault(plural, set()).add(sub)
    found: list[APIResource] = []
    for item in items:
        plural = str(item["name"])
        if "/" in plural:
            continue
        found.append(APIResource(
            group=str(item.get("group") or group), version=str(item.get("version") or version),
            plural=plural, kind=str(item.get("kind") or ""),
            namespaced=bool(item.get("namespaced")),
            verbs=frozenset(str(v) for v in item.get("verbs") or ()),
            subresources=frozenset(subresources.get(plural, ()))))
    return found


def preferred_resources(per_version: Iterable[list[APIResource]]) -> list[APIResource]:
    """Keep the first version of each group/resource (the lists come preferred first)."""
    seen: set[tuple[str, str]] = set()
    out: list[APIResource] = []
    for resources in per_version:
        for r in resources:
            if (r.group, r.plural) in seen:
                continue
            seen.add((r.group, r.plural))
            out.append(r)
    return out


_FAILURES = (ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError)


async def discover(client: Client) -> Discovery:
    """One round of discovery (see the module docstring); raises only when neither the
    core nor the group list could be read."""
    answers: tuple[Any, Any] = await asyncio.gather(client.request("GET", "/api"),
                                              client.request("GET", "/apis"),
                                              return_exceptions=True)
    core, groups = answers
    if isinstance(groups, BaseException) and isinstance(core, BaseException):
        raise groups
    result = Discovery()
    if isinstance(core, BaseException):
        result.failed["v1"] = str(core)
        core = None
    if isinstance(groups, BaseException):
        result.failed["apis"] = str(groups)
        groups = None
    pairs = parse_group_versions(core, groups)

    async def fetch(group: str, version: str) -> list[APIResource]:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        gv = f"{group}/{version}" if group else version
        try:
            document = await client.request("GET", path)
        except _FAILURES as exc:
            result.failed[gv] = str(exc) or type(exc).__name__
            return []
        return parse_resource_list(group, version, document)

    lists = await asyncio.gather(*(fetch(g, v) for g, v in pairs))
    result.resources = preferred_resources(lists)
    return result
