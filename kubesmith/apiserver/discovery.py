"""API discovery documents: legacy (``/api``, ``/apis``, ``/apis/<g>``, ``/api/v1``,
``/apis/<g>/<v>``) and aggregated (``apidiscovery.k8s.io/v2`` at ``/api`` and ``/apis``).

This module only builds response bodies, content types and ETags from a
:class:`~kubesmith.api.registry.Registry`; the HTTP layer calls :meth:`Discovery.respond`
(or the individual builders) and copies the :class:`Reply` onto the wire.

What real kubectl 1.37.1 asks for (probed against a logging HTTP server running
``get``, ``api-resources``, ``explain``, ``apply`` with and without ``--server-side``,
``create`` and ``edit``; every discovery request carries ``?timeout=32s``):

* Every command that resolves a resource (``get``, ``api-resources``, ``explain``,
  ``apply``, ``create``, ``edit``) first fetches ``GET /api`` then ``GET /apis`` with
  ``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,
  application/json`` (no ``v2beta1`` any more). client-go decides which format it got
  from the *response* ``Content-Type``: only ``application/json`` carrying the parameters
  ``g=apidiscovery.k8s.io``, ``v=v2`` and ``as=APIGroupDiscoveryList`` (in any order) is
  read as aggregated; anything else is decoded as ``APIVersions`` / ``APIGroupList`` and
  kubectl then fetches ``/api/v1`` and every ``/apis/<g>/<v>`` one by one (legacy mode).
  A 404 on ``/api`` is tolerated (treated as no core group); a 404 on ``/apis`` is fatal
  ("the server could not find the requested resource").
* kube-apiserver answers the aggregated form with that same parameterised content type,
  ``ETag: "<SHA-512 hex, upper case>"``, ``Vary: Accept``, ``Cache-Control: public`` and a
  bodiless ``304 Not Modified`` when ``If-None-Match`` equals the quoted ETag. The
  legacy documents are plain ``application/json`` with no ETag.
* OpenAPI (validation, ``explain``, apply's patch computation) is covered in
  :mod:`kubesmith.apiserver.openapi`.

Bodies are built lazily and cached as bytes per ``registry.generation``: a CRD being added
or removed bumps the generation and the next request rebuilds everything once.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

from kubesmith.api import errors
from kubesmith.api.registry import Registry
from kubesmith.api.resource_types import ResourceType

__all__ = [
    "AGGREGATED_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "Discovery",
    "Document",
    "Reply",
    "SubresourceInfo",
    "etag_of",
    "if_none_match_matches",
    "negotiate_root",
    "storage_version_hash",
    "subresource_info",
]

JSON_CONTENT_TYPE: Final = "application/json"
AGGREGATED_CONTENT_TYPE: Final = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
)
_AGGREGATED_GROUP: Final = "apidiscovery.k8s.io"
_AGGREGATED_VERSION: Final = "v2"
_AGGREGATED_KIND: Final = "APIGroupDiscoveryList"

_STATUS_VERBS: Final = ("get", "patch", "update")
_CONNECT_VERBS: Final = ("create", "get")
_PROXY_VERBS: Final = ("create", "delete", "get", "patch", "update")


@dataclass(frozen=True, slots=True)
class Document:
    """One serialized document: its bytes, the content type to send and its ETag.

    ``etag`` is the bare hash (no quotes) or ``""`` when the document is not served with
    an ETag; :attr:`quoted_etag` is the header value.
    """

    body: bytes
    content_type: str
    etag: str = ""

    @property
    def quoted_etag(self) -> str:
        return f'"{self.etag}"' if self.etag else ""


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete HTTP answer for the handler to write: status, headers and body."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubresourceInfo:
    """How discovery describes one subresource: the kind it returns and its verbs.

    ``group``/``version`` name the kind's group-version; they equal the parent's for most
    subresources (``pods/status`` is a ``Pod``) and differ for ``scale``
    (``autoscaling/v1 Scale``), ``eviction`` (``policy/v1 Eviction``) and ``token``
    (``authentication.k8s.io/v1 TokenRequest``).
    """

    name: str
    group: str
    version: str
    kind: str
    verbs: tuple[str, ...]


def subresource_info(rt: ResourceType, subresource: str) -> SubresourceInfo:
    """The kind and verbs upstream's discovery reports for ``<rt.plural>/<subresource>``."""
    same = (rt.group, rt.version)
    table: dict[str, tuple[tuple[str, str], str, tuple[str, ...]]] = {
        "status": (same, rt.kind, _STATUS_VERBS),
        "scale": (("autoscaling", "v1"), "Scale", _STATUS_VERBS),
        "binding": (same, "Binding", ("create",)),
        "eviction": (("policy", "v1"), "Eviction", ("create",)),
        "log": (same, rt.kind, ("get",)),
        "exec": (same, "PodExecOptions", _CONNECT_VERBS),
        "attach": (same, "PodAttachOptions", _CONNECT_VERBS),
        "portforward": (same, "PodPortForwardOptions", _CONNECT_VERBS),
        "proxy": (same, f"{rt.kind}ProxyOptions", _PROXY_VERBS),
        "ephemeralcontainers": (same, rt.kind, _STATUS_VERBS),
        "resize": (same, rt.kind, _STATUS_VERBS),
        "token": (("authentication.k8s.io", "v1"), "TokenRequest", ("create",)),
        "finalize": (same, rt.kind, ("update",)),
        "approval": (same, rt.kind, _STATUS_VERBS),
    }
    # An unknown subresource (a custom resource's, say) returns its parent's kind: that
    # is what CRD status and any future subresource do.
    (group, version), kind, verbs = table.get(subresource, (same, rt.kind, _STATUS_VERBS))
    return SubresourceInfo(subresource, group, version, kind, verbs)


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Upstream's ``storageVersionHash``: base64 of the first 8 bytes of
    SHA-256(``group/version/kind``) of the storage version (``/v1/Pod`` -> ``xPOwRZ+Yhw8=``)."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode("ascii")


def etag_of(body: bytes) -> str:
    """The ETag kube-apiserver and kube-openapi use: upper-case hex SHA-512 of the body."""
    return hashlib.sha512(body).hexdigest().upper()


def if_none_match_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether a request's ``If-None-Match`` names ``etag`` (bare hash), so a 304 is due.

    kube-apiserver compares the header with the quoted ETag verbatim; lists (``"a", "b"``),
    weak validators (``W/"a"``) and ``*`` are accepted too, as HTTP caches may send them.
    """
    if not if_none_match or not etag:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/")
        if tag == f'"{etag}"':
            return True
    return False


# ---------------------------------------------------------------------------------------
# Content negotiation for /api and /apis
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _MediaRange:
    type: str
    subtype: str
    params: dict[str, str]
    q: float
    position: int


def _parse_accept(accept: str) -> list[_MediaRange]:
    """Accept header clauses, most preferred first (q descending, then header order)."""
    ranges: list[_MediaRange] = []
    for position, clause in enumerate(accept.split(",")):
        parts = [p.strip() for p in clause.split(";")]
        mime = parts[0].lower()
        if not mime:
            continue
        kind, _, subtype = mime.partition("/")
        params: dict[str, str] = {}
        q = 1.0
        for part in parts[1:]:
            key, sep, value = part.partition("=")
            if not sep:
                continue
            key = key.strip().lower()
            value = value.strip().strip('"')
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            else:
                params[key] = value
        if q <= 0:
            continue
        ranges.append(_MediaRange(kind, subtype or "*", params, q, position))
    ranges.sort(key=lambda r: (-r.q, r.position))
    return ranges


def _is_plain_json(r: _MediaRange) -> bool:
    """A clause that plain JSON satisfies: ``application/json``, ``application/*``, ``*/*``
    with no conversion (``as=``) requested."""
    if "as" in r.params:
        return False
    if r.type == "*":
        return True
    return r.type == "application" and r.subtype in ("json", "*")


def negotiate_root(accept: str | None) -> Literal["aggregated", "legacy"]:
    """Which document ``/api`` or ``/apis`` should answer ``accept`` with.

    Raises :class:`~kubesmith.api.errors.StatusError` 406 when no clause is servable (only
    JSON is served: protobuf and YAML clauses are skipped, as is an aggregated request for
    a version other than ``v2``). The ``profile=nopeer`` parameter client-go may add is
    honoured trivially: a single server has no peers.
    """
    if not accept:
        return "legacy"
    for r in _parse_accept(accept):
        if (r.type, r.subtype) == ("application", "json") and "as" in r.params:
            if (r.params.get("g") == _AGGREGATED_GROUP
                    and r.params.get("v") == _AGGREGATED_VERSION
                    and r.params.get("as") == _AGGREGATED_KIND):
                return "aggregated"
            continue
        if _is_plain_json(r):
            return "legacy"
    raise errors.not_acceptable(
        "only the following media types are accepted: application/json, "
        + AGGREGATED_CONTENT_TYPE
    )


def _accepts_json(accept: str | None) -> bool:
    return not accept or any(_is_plain_json(r) for r in _parse_accept(accept))


# ---------------------------------------------------------------------------------------
# Document builders
# ---------------------------------------------------------------------------------------


def _scope(namespaced: bool) -> str:
    return "Namespaced" if namespaced else "Cluster"


class Discovery:
    """Discovery documents for one registry, rebuilt when ``registry.generation`` moves.

    ``server_address`` (``host:port``) fills ``serverAddressByClientCIDRs`` in ``/api`` the
    way kube-apiserver advertises its address to every client CIDR.
    """

    def __init__(self, registry: Registry, server_address: str = "") -> None:
        self._registry = registry
        self._server_address = server_address
        self._generation = -1
        self._cache: dict[tuple[str, ...], Document | None] = {}

    # -- cache -------------------------------------------------------------------------

    def _cached(self, key: tuple[str, ...], build: Any) -> Document | None:
        if self._generation != self._registry.generation:
            self._cache.clear()
            self._generation = self._registry.generation
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # -- helpers over the registry -----------------------------------------------------

    def _storage_hash(self, rt: ResourceType) -> str:
        """Hash of the storage version shared by every served version of the resource:
        the preferred version in the storage group (events.k8s.io events are stored as
        core v1 Events, both HPA versions as autoscaling/v2)."""
        storage_group = rt.storage_group if rt.storage_group is not None else rt.group
        candidates = [other for other in self._registry.all()
                      if other.key_prefix == rt.key_prefix and other.group == storage_group
                      and other.kind == rt.kind]
        preferred = [c for c in candidates if c.preferred]
        chosen = (preferred or candidates or [rt])[0]
        return storage_version_hash(chosen.group, chosen.version, chosen.kind)

    def _group_versions(self, group: str) -> list[str]:
        return self._registry.versions(group)

    # -- legacy documents --------------------------------------------------------------

    def api_versions(self) -> Document:
        """``GET /api``: the ``APIVersions`` of the core group."""
        def build() -> Document:
            versions = self._group_versions("")
            addresses = ([{"clientCIDR": "0.0.0.0/0", "serverAddress": self._server_address}]
                         if self._server_address else [])
            body = {"kind": "APIVersions", "versions": versions,
                    "serverAddressByClientCIDRs": addresses}
            return Document(orjson.dumps(body), JSON_CONTENT_TYPE)
        doc = self._cached(("api",), build)
        assert doc is not None
        return doc

    def _api_group(self, group: str) -> dict[str, Any]:
        versions = [{"groupVersion": f"{group}/{v}", "version": v}
                    for v in self._group_versions(group)]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def api_group_list(self) -> Document:
        """``GET /apis``: the ``APIGroupList`` of every named group, in priority order."""
        def build() -> Document:
            groups = [self._api_group(g) for g in self._registry.groups() if g]
            body = {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
            return Document(orjson.dumps(body), JSON_CONTENT_TYPE)
        doc = self._cached(("apis",), build)
        assert doc is not None
        return doc

    def api_group(self, group: str) -> Document | None:
        """``GET /apis/<group>``: the ``APIGroup``, or ``None`` when the group isn't served."""
        def build() -> Document | None:
            if not group or group not in self._registry.groups():
                return None
            body = {"kind": "APIGroup", "apiVersion": "v1", **self._api_group(group)}
            return Document(orjson.dumps(body), JSON_CONTENT_TYPE)
        return self._cached(("group", group), build)

    def _legacy_resources(self, group: str, version: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for rt in self._registry.resources(group, version):
            entry: dict[str, Any] = {
                "name": rt.plural,
                "singularName": rt.singular_name,
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": list(rt.verbs),
            }
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            if not rt.virtual:
                entry["storageVersionHash"] = self._storage_hash(rt)
            entries.append(entry)
            for sub in rt.subresources:
                info = subresource_info(rt, sub)
                sub_entry: dict[str, Any] = {
                    "name": f"{rt.plural}/{sub}",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                }
                # group/version appear only where the kind lives in another group-version.
                if (info.group, info.version) != (rt.group, rt.version):
                    sub_entry["group"] = info.group
                    sub_entry["version"] = info.version
                sub_entry["kind"] = info.kind
                sub_entry["verbs"] = list(info.verbs)
                entries.append(sub_entry)
        entries.sort(key=lambda e: str(e["name"]))
        return entries

    def resource_list(self, group: str, version: str) -> Document | None:
        """``GET /api/v1`` or ``GET /apis/<g>/<v>``: the ``APIResourceList``, or ``None``."""
        def build() -> Document | None:
            if version not in self._group_versions(group):
                return None
            body: dict[str, Any] = {"kind": "APIResourceList"}
            # kube-apiserver leaves apiVersion off the core list only; kept for fidelity.
            if group:
                body["apiVersion"] = "v1"
            body["groupVersion"] = f"{group}/{version}" if group else version
            body["resources"] = self._legacy_resources(group, version)
            return Document(orjson.dumps(body), JSON_CONTENT_TYPE)
        return self._cached(("resources", group, version), build)

    # -- aggregated documents ----------------------------------------------------------

    def _aggregated_resources(self, group: str, version: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        for rt in self._registry.resources(group, version):
            entry: dict[str, Any] = {
                "resource": rt.plural,
                "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                "scope": _scope(rt.namespaced),
                "singularResource": rt.singular_name,
                "verbs": list(rt.verbs),
            }
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            subs = []
            for sub in sorted(rt.subresources):
                info = subresource_info(rt, sub)
                subs.append({
                    "subresource": sub,
                    "responseKind": {"group": info.group, "version": info.version,
                                     "kind": info.kind},
                    "verbs": list(info.verbs),
                })
            if subs:
                entry["subresources"] = subs
            entries.append(entry)
        return entries

    def _aggregated_group(self, group: str) -> dict[str, Any]:
        versions = [{"version": v,
                     "resources": self._aggregated_resources(group, v),
                     "freshness": "Current"}
                    for v in self._group_versions(group)]
        metadata: dict[str, Any] = {"name": group} if group else {}
        return {"metadata": metadata, "versions": versions}

    def aggregated(self, root: Literal["/api", "/apis"]) -> Document:
        """The ``APIGroupDiscoveryList`` for ``/api`` (the core group) or ``/apis``."""
        def build() -> Document:
            if root == "/api":
                groups: Iterable[str] = [g for g in self._registry.groups() if not g]
            else:
                groups = [g for g in self._registry.groups() if g]
            body = {
                "kind": _AGGREGATED_KIND,
                "apiVersion": f"{_AGGREGATED_GROUP}/{_AGGREGATED_VERSION}",
                "metadata": {},
                "items": [self._aggregated_group(g) for g in groups],
            }
            data = orjson.dumps(body)
            return Document(data, AGGREGATED_CONTENT_TYPE, etag_of(data))
        doc = self._cached(("aggregated", root), build)
        assert doc is not None
        return doc

    # -- HTTP-shaped entry point -------------------------------------------------------

    def document(self, path: str, accept: str | None = None) -> Document | None:
        """The document for a discovery ``path``, negotiated on ``accept``; ``None`` when
        ``path`` is not a discovery path this registry serves.

        Raises a 406 :class:`~kubesmith.api.errors.StatusError` when ``accept`` allows
        nothing servable.
        """
        path = path.rstrip("/") or "/"
        parts = path.strip("/").split("/")
        if path in ("/api", "/apis"):
            if negotiate_root(accept) == "aggregated":
                return self.aggregated("/api" if path == "/api" else "/apis")
            return self.api_versions() if path == "/api" else self.api_group_list()
        doc: Document | None = None
        if parts[0] == "api" and len(parts) == 2:
            doc = self.resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            doc = self.api_group(parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = self.resource_list(parts[1], parts[2])
        if doc is not None and not _accepts_json(accept):
            raise errors.not_acceptable(
                "only the following media types are accepted: application/json")
        return doc

    def respond(self, path: str, accept: str | None = None,
                if_none_match: str | None = None) -> Reply | None:
        """The full answer to ``GET path``: ``None`` when ``path`` is not discovery.

        Aggregated documents carry kube-apiserver's caching headers (``ETag``,
        ``Vary: Accept``, ``Cache-Control: public``) and turn into a bodiless 304 when
        ``If-None-Match`` names the current ETag. Raises a 406
        :class:`~kubesmith.api.errors.StatusError` for an unservable ``Accept``.
        """
        doc = self.document(path, accept)
        if doc is None:
            return None
        headers: dict[str, str] = {"Content-Type": doc.content_type}
        if doc.etag:
            headers.update({"ETag": doc.quoted_etag, "Vary": "Accept",
                            "Cache-Control": "public"})
            if if_none_match_matches(if_none_match, doc.etag):
                return Reply(304, b"", headers)
        return Reply(200, doc.body, headers)
