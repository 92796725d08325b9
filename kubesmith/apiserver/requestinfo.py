"""What a request is about, parsed from its method and path (upstream's RequestInfo).

``/api/v1/namespaces/ns/pods/name/status`` → resource request: verb from the method (GET on
a collection is ``list``, or ``watch`` with ``?watch=true``), group "", version v1,
namespace ns, resource pods, name, subresource status. Everything else (``/healthz``,
``/version``, ``/openapi/v2``) is a non-resource request, authorized by its path.

A LIST or WATCH whose field selector pins ``metadata.name`` to one value (``?fieldSelector=
metadata.name=s1``, how kubelets and ``kubectl get secret s1 --watch`` read single objects)
carries that name, as upstream's RequestInfo does: it can only ever return that one object, so
authorizers judge it like a request for the named object (RBAC ``resourceNames``, the Node
authorizer's per-object rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from kubesmith.api import errors, selectors

_TRUE = ("true", "1")
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True, slots=True)
class RequestInfo:
    is_resource: bool
    verb: str
    path: str
    api_prefix: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()


_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update",
                 "PATCH": "patch", "DELETE": "delete"}


def parse(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    """Classify a request. ``query`` is the parsed query string (first values)."""
    segments = [unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
    verb = _METHOD_VERBS.get(method.upper(), method.lower())
    if not segments or segments[0] not in ("api", "apis"):
        return RequestInfo(False, verb, path)
    prefix = segments[0]
    rest = segments[1:]
    group = ""
    if prefix == "apis":
        if not rest:
            return RequestInfo(False, verb, path)
        group, rest = rest[0], rest[1:]
    if not rest:
        return RequestInfo(False, verb, path)
    version, rest = rest[0], rest[1:]
    if not rest:
        return RequestInfo(False, verb, path, prefix, group, version)
    # Deprecated /watch/ prefix paths.
    if rest[0] == "watch":
        rest = rest[1:]
        verb = "watch"
    namespace = ""
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        # /namespaces/{ns}/{resource}... unless it is the namespace's own subresource.
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch", "").lower() in _TRUE else "list"
        name = _name_from_field_selector(query.get("fieldSelector", ""))
    elif not name and verb == "delete":
        verb = "deletecollection"
    elif name and verb == "get" and query.get("watch", "").lower() in _TRUE:
        verb = "watch"
    return RequestInfo(True, verb, path, prefix, group, version, namespace, resource,
                       subresource, name, tuple(rest))


def _name_from_field_selector(text: str) -> str:
    """The name a collection read's field selector pins (``metadata.name=<name>``, also
    within an AND of terms: the result is still at most that one object), or ""."""
    if "metadata.name" not in text:
        return ""
    try:
        pinned = selectors.parse_field_selector(text).requires_exact_match("metadata.name")
    except errors.StatusError:
        return ""  # the handler answers the malformed selector with 400
    # Only a name that could stand in a path (upstream's IsValidPathSegmentName).
    if not pinned or pinned in (".", "..") or "/" in pinned or "%" in pinned:
        return ""
    return pinned
