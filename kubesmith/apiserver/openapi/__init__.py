"""OpenAPI documents: ``/openapi/v2`` (Swagger 2.0) and ``/openapi/v3`` (index plus one
OpenAPI 3.0 document per group-version), built from the registry and the v1.37 definitions.

Like :mod:`kubesmith.apiserver.discovery`, this module builds bodies, content types and
ETags; the HTTP handler calls :meth:`OpenAPI.respond` and writes the :class:`Reply`.

What real kubectl 1.37.1 does with these (probed against a logging server):

* ``apply``, ``create`` and ``edit`` (client-side validation, ``--validate=strict`` by
  default) fetch ``GET /openapi/v3`` (``Accept: application/json, */*``), then the
  group-version document through the ``serverRelativeURL`` of the index, ``?hash=``
  included. kubectl looks for the ``PATCH`` operation whose
  ``x-kubernetes-group-version-kind`` is the object's kind and, if that operation lists a
  ``fieldValidation`` query parameter, sends ``?fieldValidation=Strict`` and leaves
  validation to the server. Every ``PATCH`` of a kind (``/status`` and ``/scale`` ones
  included) must therefore list it.
* Client-side ``apply`` computes its patch from the same document: a kind whose PATCH
  accepts ``application/strategic-merge-patch+json`` gets a strategic merge patch built
  from ``components.schemas`` (``x-kubernetes-patch-*`` extensions); custom resources,
  which don't accept it, fall through to a JSON merge patch.
* ``explain`` reads the group-version document, finds the resource's GVK on the
  operations of ``.../<plural>`` or ``.../namespaces/{namespace}/<plural>`` and then the
  schema in ``components.schemas`` whose ``x-kubernetes-group-version-kind`` has it.
* Only when ``/openapi/v3`` fails does kubectl fetch ``GET /openapi/v2``, and always with
  ``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf``: client-go
  decodes the body as gnostic's protobuf ``openapi_v2.Document`` whatever the response
  content type, so JSON there would be a decode error. With v3 served, v2 is asked for by
  ``explain --output=plaintext-openapiv2`` and by client-side apply of kinds whose v3 PATCH
  has no strategic merge patch (custom resources; it then settles on a JSON merge patch
  either way). v2 is therefore served in both encodings: JSON by default and gnostic's
  protobuf (:mod:`kubesmith.apiserver.openapi.protobuf`) when asked for, answered with
  ``Content-Type: application/com.github.proto-openapi.spec.v2.v1.0+protobuf``.

Upstream's caching is mirrored: every document has ``ETag: "<SHA-512 hex, upper case>"``
and a matching ``If-None-Match`` gets a 304; a group-version document requested with the
current ``?hash=`` is ``Cache-Control: public, immutable`` with an ``Expires`` a year out,
and one requested with a stale hash is redirected (301) to the current URL.

Definitions come from :func:`kubesmith.api.schema.definitions` (JSON Schema 2020-12 form)
and are rewritten into OpenAPI once: ``"type": [T, "null"]`` becomes ``T``, refs point at
``#/definitions/`` (v2) or ``#/components/schemas/`` (v3, where a ``$ref`` with siblings
becomes ``allOf: [{$ref}]`` as upstream publishes it), the ``apiVersion``/``kind`` enums the
JSON Schema conversion added are dropped, and ``IntOrString``/``Quantity`` take upstream's
v2 (``type: string``, ``format: int-or-string``) and v3 (``oneOf``) forms.
"""

from __future__ import annotations

import email.utils
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from kubesmith.api import errors
from kubesmith.api.registry import Registry
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.schema import definition_name
from kubesmith.api.schema import definitions as bundled_definitions
from kubesmith.apiserver.discovery import (
    Document,
    Reply,
    etag_of,
    if_none_match_matches,
    subresource_info,
)
from kubesmith.apiserver.openapi.protobuf import encode_document

__all__ = [
    "PROTOBUF_V2_CONTENT_TYPE",
    "CustomResourceSchema",
    "OpenAPI",
    "convert_definition",
    "custom_definition_name",
    "group_version_path",
]

PROTOBUF_V2_CONTENT_TYPE: Final = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_JSON: Final = "application/json"
_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1."
_INT_OR_STRING: Final = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY: Final = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_REF_PREFIXES: Final = ("#/$defs/", "#/definitions/", "#/components/schemas/")

Flavor = Literal["v2", "v3"]

# Media types a built-in resource's operations produce; custom resources have no protobuf.
_BUILTIN_MEDIA: Final = ("application/json", "application/yaml",
                         "application/vnd.kubernetes.protobuf")
_CUSTOM_MEDIA: Final = ("application/json", "application/yaml")
_WATCH_MEDIA: Final = ("application/json;stream=watch",
                       "application/vnd.kubernetes.protobuf;stream=watch")
_BUILTIN_PATCH_TYPES: Final = ("application/apply-patch+yaml", "application/json-patch+json",
                               "application/merge-patch+json",
                               "application/strategic-merge-patch+json")
# Custom resources cannot take a strategic merge patch: kubectl keys its choice of patch
# type on this list.
_CUSTOM_PATCH_TYPES: Final = ("application/apply-patch+yaml", "application/json-patch+json",
                              "application/merge-patch+json")

# Query and path parameters: (location, type, description).
_PARAMS: Final[dict[str, tuple[str, str, str]]] = {
    "allowWatchBookmarks": ("query", "boolean",
                            "allowWatchBookmarks requests watch events with type BOOKMARK."),
    "continue": ("query", "string",
                 "The continue token returned by a previous paginated list call."),
    "dryRun": ("query", "string",
               "When present (only 'All' is valid), modifications are not persisted."),
    "fieldManager": ("query", "string",
                     "fieldManager is the name of the actor or entity making these changes."),
    "fieldSelector": ("query", "string",
                      "A selector to restrict the list of returned objects by their fields."),
    "fieldValidation": ("query", "string",
                        "How to treat unknown or duplicate fields in the request body: "
                        "Ignore, Warn (the default) or Strict."),
    "force": ("query", "boolean",
              "Force re-acquires conflicting fields owned by other managers (apply only)."),
    "gracePeriodSeconds": ("query", "integer",
                           "The duration in seconds before the object should be deleted."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (
        "query", "boolean", "Delete an object that cannot be decoded from storage."),
    "labelSelector": ("query", "string",
                      "A selector to restrict the list of returned objects by their labels."),
    "limit": ("query", "integer", "The maximum number of responses to return for a list."),
    "orphanDependents": ("query", "boolean",
                         "Deprecated: use propagationPolicy. Orphan the dependents if true."),
    "propagationPolicy": ("query", "string",
                          "Whether and how garbage collection is performed: Orphan, "
                          "Background or Foreground."),
    "resourceVersion": ("query", "string",
                        "A constraint on which resource versions a request may be served "
                        "from."),
    "resourceVersionMatch": ("query", "string",
                             "How resourceVersion is applied to list calls."),
    "sendInitialEvents": ("query", "boolean",
                          "Begin a watch with synthetic events for the current state."),
    "timeoutSeconds": ("query", "integer", "Timeout for the list/watch call."),
    "watch": ("query", "boolean", "Watch for changes to the described resources."),
    "pretty": ("query", "string", "If 'true', then the output is pretty printed."),
    "namespace": ("path", "string", "object name and auth scope, such as for teams and projects"),
    "path": ("path", "string", "path to the resource"),
    "container": ("query", "string", "The container for which to stream logs or run commands."),
    "follow": ("query", "boolean", "Follow the log stream of the pod."),
    "insecureSkipTLSVerifyBackend": ("query", "boolean",
                                     "Skip verifying the backend's serving certificate."),
    "limitBytes": ("query", "integer", "The number of bytes to read from the log."),
    "previous": ("query", "boolean", "Return the logs of the previous container instance."),
    "sinceSeconds": ("query", "integer", "Only return logs newer than this many seconds."),
    "stream": ("query", "string", "The log stream to return: All, Stdout or Stderr."),
    "tailLines": ("query", "integer", "The number of lines from the end of the log to show."),
    "timestamps": ("query", "boolean", "Prefix every line of log output with its timestamp."),
    "command": ("query", "string", "Command is the remote command to execute."),
    "stderr": ("query", "boolean", "Redirect the standard error stream."),
    "stdin": ("query", "boolean", "Redirect the standard input stream."),
    "stdout": ("query", "boolean", "Redirect the standard output stream."),
    "tty": ("query", "boolean", "Allocate a terminal for the command."),
    "ports": ("query", "integer", "List of ports to forward."),
}
_LIST_PARAMS: Final = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector",
                       "limit", "resourceVersion", "resourceVersionMatch",
                       "sendInitialEvents", "timeoutSeconds", "watch")
_WRITE_PARAMS: Final = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_PARAMS: Final = ("dryRun", "fieldManager", "fieldValidation", "force")
_DELETE_PARAMS: Final = ("dryRun", "gracePeriodSeconds",
                         "ignoreStoreReadErrorWithClusterBreakingPotential",
                         "orphanDependents", "propagationPolicy")
_DELETECOLLECTION_PARAMS: Final = ("continue", "dryRun", "fieldSelector", "gracePeriodSeconds",
                                   "ignoreStoreReadErrorWithClusterBreakingPotential",
                                   "labelSelector", "limit", "orphanDependents",
                                   "propagationPolicy", "resourceVersion",
                                   "resourceVersionMatch", "sendInitialEvents",
                                   "timeoutSeconds")
_CONNECT_PARAMS: Final[dict[str, tuple[str, ...]]] = {
    "exec": ("command", "container", "stderr", "stdin", "stdout", "tty"),
    "attach": ("container", "stderr", "stdin", "stdout", "tty"),
    "portforward": ("ports",),
}
_LOG_PARAMS: Final = ("container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes",
                      "previous", "sinceSeconds", "stream", "tailLines", "timestamps")
_PROXY_METHODS: Final = ("delete", "get", "head", "options", "patch", "post", "put")
_VERB_METHOD: Final = {"get": "get", "update": "put", "patch": "patch", "create": "post",
                       "delete": "delete"}


# ---------------------------------------------------------------------------------------
# Definitions: JSON Schema 2020-12 -> OpenAPI v2 / v3
# ---------------------------------------------------------------------------------------


def _ref_target(ref: str) -> str:
    for prefix in _REF_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def _ref(name: str, flavor: Flavor) -> dict[str, Any]:
    prefix = "#/definitions/" if flavor == "v2" else "#/components/schemas/"
    return {"$ref": prefix + name}


def _convert(schema: Any, flavor: Flavor) -> Any:
    """One schema node rewritten for ``flavor`` (see the module docstring)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref":
            continue
        if key == "type" and isinstance(value, list):
            kept = [t for t in value if t != "null"]
            if kept:
                out["type"] = kept[0] if len(kept) == 1 else kept
        elif key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _convert(sub, flavor) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _convert(value, flavor)
        elif key in ("oneOf", "anyOf", "allOf") and isinstance(value, list):
            out[key] = [_convert(sub, flavor) for sub in value]
        else:
            out[key] = value
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _ref(_ref_target(ref), flavor)
        if not out:
            return target
        if flavor == "v3":
            # OpenAPI 3.0 ignores siblings of $ref; upstream wraps the ref in allOf so the
            # field's own description and extensions survive.
            out["allOf"] = [target]
        else:
            out.update(target)
    return out


def convert_definition(name: str, schema: Mapping[str, Any], flavor: Flavor) -> dict[str, Any]:
    """A bundled definition in upstream's OpenAPI ``flavor`` form."""
    description = schema.get("description")
    if name == _INT_OR_STRING:
        special: dict[str, Any] = (
            {"type": "string", "format": "int-or-string"} if flavor == "v2" else
            {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]})
        return {"description": description, **special} if description else special
    if name == _QUANTITY:
        special = ({"type": "string"} if flavor == "v2" else
                   {"oneOf": [{"type": "string"}, {"type": "number"}]})
        return {"description": description, **special} if description else special
    out: dict[str, Any] = _convert(dict(schema), flavor)
    gvks = schema.get("x-kubernetes-group-version-kind")
    properties = out.get("properties")
    if gvks and isinstance(properties, dict):
        # The JSON Schema conversion pinned apiVersion/kind with enums; upstream has none.
        for field_name in ("apiVersion", "kind"):
            prop = properties.get(field_name)
            if isinstance(prop, dict) and "enum" in prop:
                properties[field_name] = {k: v for k, v in prop.items() if k != "enum"}
    return out


def _refs(schema: Any) -> Iterator[str]:
    """Every definition name ``schema`` references, directly."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield _ref_target(ref)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _closure(roots: Iterable[str], defs: Mapping[str, Any]) -> list[str]:
    """Names reachable from ``roots`` through ``$ref``s, sorted."""
    seen: set[str] = set()
    stack = [r for r in roots if r in defs]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(n for n in _refs(defs[name]) if n in defs and n not in seen)
    return sorted(seen)


# ---------------------------------------------------------------------------------------
# Custom resources
# ---------------------------------------------------------------------------------------


def custom_definition_name(group: str, version: str, kind: str) -> str:
    """Upstream's definition name for a custom kind: the group reversed, then version and
    kind (``stable.example.com``/``v1``/``CronTab`` -> ``com.example.stable.v1.CronTab``)."""
    reversed_group = ".".join(reversed(group.split("."))) if group else ""
    return ".".join(p for p in (reversed_group, version, kind) if p)


@dataclass(frozen=True, slots=True)
class CustomResourceSchema:
    """One served version of a custom resource and its ``openAPIV3Schema``."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    schema: Mapping[str, Any]
    list_kind: str = ""
    subresources: tuple[str, ...] = ()

    @property
    def definition_name(self) -> str:
        return custom_definition_name(self.group, self.version, self.kind)

    def resource_type(self) -> ResourceType:
        """The resource as the registry would describe it (for path generation)."""
        return ResourceType(self.group, self.version, self.kind, self.plural,
                            self.namespaced, subresources=self.subresources)


_V2_UNSUPPORTED: Final = frozenset({"nullable", "oneOf", "anyOf", "not"})


def _custom_schema_v2(schema: Any) -> Any:
    """A CRD structural schema cut down to what Swagger 2.0 can say, as upstream publishes
    CRDs in v2 (no ``nullable``, ``oneOf``, ``anyOf``, ``not``)."""
    if isinstance(schema, list):
        return [_custom_schema_v2(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _V2_UNSUPPORTED:
            continue
        if key in ("properties", "patternProperties", "definitions") and isinstance(value, dict):
            out[key] = {k: _custom_schema_v2(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            out[key] = _custom_schema_v2(value)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Op:
    """One operation, independent of the OpenAPI flavour it is rendered in."""

    method: str
    operation_id: str
    description: str
    action: str
    gvk: tuple[str, str, str] | None
    params: tuple[str, ...] = ()
    body: str | None = None              # definition name of the request body
    body_types: tuple[str, ...] = ("*/*",)
    responses: tuple[tuple[str, str, str | None], ...] = ()   # (code, description, def)
    produces: tuple[str, ...] = _BUILTIN_MEDIA
    tag: str = ""


@dataclass(slots=True)
class _PathItem:
    params: tuple[str, ...]
    ops: list[_Op]


def _camel_group(group: str) -> str:
    if not group:
        return "Core"
    parts = group.removesuffix(".k8s.io").split(".")
    return "".join(p[:1].upper() + p[1:] for p in parts)


def _tag(group: str, version: str) -> str:
    camel = _camel_group(group)
    return f"{camel[:1].lower()}{camel[1:]}_{version}"


def group_version_path(group: str, version: str) -> str:
    """``api/v1`` or ``apis/<group>/<version>``: the key of a document in the v3 index."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _ok(definition: str | None, *codes: tuple[str, str]) -> tuple[tuple[str, str, str | None],
                                                                  ...]:
    return (*((code, text, definition) for code, text in codes), ("401", "Unauthorized", None))


class _PathBuilder:
    """Operations of one resource type, the way kube-apiserver's installer names them."""

    def __init__(self, rt: ResourceType, definition: str | None, list_definition: str | None,
                 *, custom: bool) -> None:
        self.rt = rt
        self.definition = definition
        self.list_definition = list_definition
        self.custom = custom
        self.prefix = "/" + group_version_path(rt.group, rt.version)
        self.gv = _camel_group(rt.group) + rt.version[:1].upper() + rt.version[1:]
        self.tag = _tag(rt.group, rt.version)
        self.media = _CUSTOM_MEDIA if custom else _BUILTIN_MEDIA
        self.gvk = (rt.group, rt.version, rt.kind)

    def _op(self, method: str, op_id: str, description: str, action: str,
            gvk: tuple[str, str, str] | None, **kw: Any) -> _Op:
        kw.setdefault("produces", self.media)
        return _Op(method, op_id, description, action, gvk, tag=self.tag, **kw)

    def build(self) -> dict[str, _PathItem]:
        rt = self.rt
        paths: dict[str, _PathItem] = {}
        ns = "Namespaced" if rt.namespaced else ""
        base = (f"{self.prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced
                else f"{self.prefix}/{rt.plural}")
        scope_params: tuple[str, ...] = ("namespace",) if rt.namespaced else ()
        item_params = ("name", *scope_params, "pretty")
        collection_params = (*scope_params, "pretty")
        kind, verbs = rt.kind, set(rt.verbs)
        status_def = _META + "Status"

        collection: list[_Op] = []
        if "list" in verbs:
            collection.append(self._op(
                "get", f"list{self.gv}{ns}{kind}", f"list or watch objects of kind {kind}",
                "list", self.gvk, params=_LIST_PARAMS,
                responses=_ok(self.list_definition, ("200", "OK")),
                produces=(*self.media, *_WATCH_MEDIA)))
        if "create" in verbs:
            collection.append(self._op(
                "post", f"create{self.gv}{ns}{kind}", f"create {_article(kind)}", "post",
                self.gvk, params=_WRITE_PARAMS, body=self.definition,
                responses=_ok(self.definition, ("200", "OK"), ("201", "Created"),
                              ("202", "Accepted"))))
        if "deletecollection" in verbs:
            collection.append(self._op(
                "delete", f"delete{self.gv}Collection{ns}{kind}",
                f"delete collection of {kind}", "deletecollection", self.gvk,
                params=_DELETECOLLECTION_PARAMS, body=_META + "DeleteOptions",
                responses=_ok(status_def, ("200", "OK"))))
        if collection:
            paths[base] = _PathItem(collection_params, collection)

        item: list[_Op] = []
        if "get" in verbs:
            item.append(self._op("get", f"read{self.gv}{ns}{kind}",
                                 f"read the specified {kind}", "get", self.gvk,
                                 responses=_ok(self.definition, ("200", "OK"))))
        if "update" in verbs:
            item.append(self._op(
                "put", f"replace{self.gv}{ns}{kind}", f"replace the specified {kind}", "put",
                self.gvk, params=_WRITE_PARAMS, body=self.definition,
                responses=_ok(self.definition, ("200", "OK"), ("201", "Created"))))
        if "delete" in verbs:
            item.append(self._op(
                "delete", f"delete{self.gv}{ns}{kind}", f"delete {_article(kind)}", "delete",
                self.gvk, params=_DELETE_PARAMS, body=_META + "DeleteOptions",
                responses=_ok(status_def, ("200", "OK"), ("202", "Accepted"))))
        if "patch" in verbs:
            item.append(self._patch(f"patch{self.gv}{ns}{kind}",
                                    f"partially update the specified {kind}", self.gvk,
                                    self.definition))
        if item:
            paths[f"{base}/{{name}}"] = _PathItem(item_params, item)

        if "watch" in verbs:
            self._watch_paths(paths, ns, scope_params)
        if rt.namespaced and "list" in verbs:
            paths[f"{self.prefix}/{rt.plural}"] = _PathItem(("pretty",), [self._op(
                "get", f"list{self.gv}{kind}ForAllNamespaces",
                f"list or watch objects of kind {kind}", "list", self.gvk,
                params=_LIST_PARAMS, responses=_ok(self.list_definition, ("200", "OK")),
                produces=(*self.media, *_WATCH_MEDIA))])

        for sub in rt.subresources:
            self._subresource(paths, sub, base, item_params, ns)
        return paths

    def _patch(self, op_id: str, description: str, gvk: tuple[str, str, str] | None,
               definition: str | None) -> _Op:
        return self._op("patch", op_id, description, "patch", gvk, params=_PATCH_PARAMS,
                        body=_META + "Patch",
                        body_types=_CUSTOM_PATCH_TYPES if self.custom else _BUILTIN_PATCH_TYPES,
                        responses=_ok(definition, ("200", "OK"), ("201", "Created")))

    def _watch_paths(self, paths: dict[str, _PathItem], ns: str,
                     scope_params: tuple[str, ...]) -> None:
        rt, kind = self.rt, self.rt.kind
        watch_event = _META + "WatchEvent"
        produces = (*self.media, *_WATCH_MEDIA)
        base = (f"{self.prefix}/watch/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced
                else f"{self.prefix}/watch/{rt.plural}")
        list_params = (*_LIST_PARAMS, *scope_params, "pretty")
        paths[base] = _PathItem(list_params, [self._op(
            "get", f"watch{self.gv}{ns}{kind}List",
            f"watch individual changes to a list of {kind}. deprecated: use the 'watch' "
            "parameter with a list operation instead.", "watchlist", self.gvk,
            responses=_ok(watch_event, ("200", "OK")), produces=produces)])
        paths[f"{base}/{{name}}"] = _PathItem(("name", *list_params), [self._op(
            "get", f"watch{self.gv}{ns}{kind}",
            f"watch changes to an object of kind {kind}. deprecated: use the 'watch' "
            "parameter with a list operation instead, filtered to a single item with the "
            "'fieldSelector' parameter.", "watch", self.gvk,
            responses=_ok(watch_event, ("200", "OK")), produces=produces)])
        if rt.namespaced:
            paths[f"{self.prefix}/watch/{rt.plural}"] = _PathItem(
                (*_LIST_PARAMS, "pretty"), [self._op(
                    "get", f"watch{self.gv}{kind}ListForAllNamespaces",
                    f"watch individual changes to a list of {kind}. deprecated: use the "
                    "'watch' parameter with a list operation instead.", "watchlist",
                    self.gvk, responses=_ok(watch_event, ("200", "OK")),
                    produces=produces)])

    def _subresource(self, paths: dict[str, _PathItem], sub: str, base: str,
                     item_params: tuple[str, ...], ns: str) -> None:
        rt = self.rt
        info = subresource_info(rt, sub)
        gvk = (info.group, info.version, info.kind)
        suffix = sub[:1].upper() + sub[1:]
        name = f"{ns}{rt.kind}{suffix}"
        path = f"{base}/{{name}}/{sub}"
        # The kind a subresource returns: its parent's definition, or (scale, eviction,
        # binding, token) the definition named after the kind in the same namespace of
        # definitions the caller resolved.
        definition = (self.definition if info.kind == rt.kind and info.group == rt.group
                      else _definition_for(info.group, info.version, info.kind))
        if sub in ("exec", "attach", "portforward", "proxy"):
            methods = _PROXY_METHODS if sub == "proxy" else ("get", "post")
            params = _CONNECT_PARAMS.get(sub, ())
            for with_path in ((False, True) if sub == "proxy" else (False,)):
                connect_ops = [self._op(
                    method, f"connect{self.gv}{method.capitalize()}{name}"
                            + ("WithPath" if with_path else ""),
                    f"connect {method.upper()} requests to {sub} of {rt.kind}", "connect",
                    gvk, params=params, responses=_ok("", ("200", "OK")), produces=("*/*",))
                    for method in methods]
                key = f"{path}/{{path}}" if with_path else path
                extra = ("path",) if with_path else ()
                paths[key] = _PathItem((*item_params[:-1], *extra), connect_ops)
            return
        if sub == "log":
            paths[path] = _PathItem(item_params, [self._op(
                "get", f"read{self.gv}{name}", f"read log of the specified {rt.kind}", "get",
                gvk, params=_LOG_PARAMS, responses=_ok("", ("200", "OK")),
                produces=("text/plain", *self.media))])
            return
        ops: list[_Op] = []
        for verb in info.verbs:
            method = _VERB_METHOD.get(verb)
            if method == "get":
                ops.append(self._op("get", f"read{self.gv}{name}",
                                    f"read {sub} of the specified {rt.kind}", "get", gvk,
                                    responses=_ok(definition, ("200", "OK"))))
            elif method == "put":
                ops.append(self._op(
                    "put", f"replace{self.gv}{name}", f"replace {sub} of the specified "
                    f"{rt.kind}", "put", gvk, params=_WRITE_PARAMS, body=definition,
                    responses=_ok(definition, ("200", "OK"), ("201", "Created"))))
            elif method == "patch":
                ops.append(self._patch(f"patch{self.gv}{name}",
                                       f"partially update {sub} of the specified {rt.kind}",
                                       gvk, definition))
            elif method == "post":
                ops.append(self._op(
                    "post", f"create{self.gv}{name}", f"create {sub} of {_article(rt.kind)}",
                    "post", gvk, params=_WRITE_PARAMS, body=definition,
                    responses=_ok(definition, ("200", "OK"), ("201", "Created"),
                                  ("202", "Accepted"))))
        if ops:
            paths[path] = _PathItem(item_params, ops)

    def api_resources(self) -> tuple[str, _PathItem]:
        """The ``GET /apis/<g>/<v>/`` discovery operation every group-version has."""
        op = _Op("get", f"get{self.gv}APIResources", "get available resources", "", None,
                 responses=_ok(_META + "APIResourceList", ("200", "OK")),
                 produces=_BUILTIN_MEDIA, tag=self.tag)
        return f"{self.prefix}/", _PathItem((), [op])


def _article(kind: str) -> str:
    return ("an " if kind[:1] in "AEIOU" else "a ") + kind


def _definition_for(group: str, version: str, kind: str) -> str | None:
    """The bundled definition carrying this GVK, if any."""
    return definition_name(group, version, kind)


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------


def _gvk_ext(gvk: tuple[str, str, str]) -> dict[str, str]:
    return {"group": gvk[0], "version": gvk[1], "kind": gvk[2]}


def _param_v2(name: str) -> dict[str, Any]:
    where, typ, description = _PARAMS.get(name, ("path", "string", f"name of the {name}"))
    param: dict[str, Any] = {"uniqueItems": True, "type": typ, "description": description,
                             "name": name, "in": where}
    if where == "path":
        param["required"] = True
    return param


def _param_v3(name: str) -> dict[str, Any]:
    where, typ, description = _PARAMS.get(name, ("path", "string", f"name of the {name}"))
    param: dict[str, Any] = {"name": name, "in": where, "description": description}
    if where == "path":
        param["required"] = True
    param["schema"] = {"type": typ, "uniqueItems": True}
    return param


def _name_param(kind: str, flavor: Flavor) -> dict[str, Any]:
    param = _param_v2("name") if flavor == "v2" else _param_v3("name")
    param["description"] = f"name of the {kind}"
    return param


def _render_op(op: _Op, flavor: Flavor) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if flavor == "v2":
        out["description"] = op.description
        out["consumes"] = list(op.body_types) if op.method == "patch" else ["*/*"]
        out["produces"] = list(op.produces)
        out["schemes"] = ["https"]
        out["tags"] = [op.tag]
        out["operationId"] = op.operation_id
        params = [_param_v2(p) for p in op.params]
        if op.body is not None:
            params.insert(0, {"name": "body", "in": "body", "required": True,
                              "schema": _ref(op.body, "v2")})
        if params:
            out["parameters"] = params
        responses: dict[str, Any] = {}
        for code, text, definition in op.responses:
            entry: dict[str, Any] = {"description": text}
            if definition:
                entry["schema"] = _ref(definition, "v2")
            elif definition == "":
                entry["schema"] = {"type": "string"}
            responses[code] = entry
        out["responses"] = responses
    else:
        out["tags"] = [op.tag]
        out["description"] = op.description
        out["operationId"] = op.operation_id
        if op.params:
            out["parameters"] = [_param_v3(p) for p in op.params]
        if op.body is not None:
            out["requestBody"] = {"content": {
                t: {"schema": _ref(op.body, "v3")} for t in op.body_types}}
        responses = {}
        for code, text, definition in op.responses:
            entry = {"description": text}
            if definition:
                entry["content"] = {m: {"schema": _ref(definition, "v3")} for m in op.produces}
            elif definition == "":
                entry["content"] = {m: {"schema": {"type": "string"}} for m in op.produces}
            responses[code] = entry
        out["responses"] = responses
    if op.action:
        out["x-kubernetes-action"] = op.action
    if op.gvk is not None:
        out["x-kubernetes-group-version-kind"] = _gvk_ext(op.gvk)
    return out


def _render_paths(items: Mapping[str, tuple[str, _PathItem]], flavor: Flavor) -> dict[str, Any]:
    """``{path: path item}``; ``items`` maps each path to (kind for {name}, path item)."""
    rendered: dict[str, Any] = {}
    for path in sorted(items):
        kind, item = items[path]
        out: dict[str, Any] = {op.method: _render_op(op, flavor) for op in item.ops}
        if item.params:
            params = []
            for p in sorted(item.params):
                params.append(_name_param(kind, flavor) if p == "name" else
                              (_param_v2(p) if flavor == "v2" else _param_v3(p)))
            out["parameters"] = params
        rendered[path] = out
    return rendered


# ---------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------


_SECURITY_SCHEME: Final = {"type": "apiKey", "description": "Bearer Token authentication",
                           "name": "authorization", "in": "header"}


class OpenAPI:
    """OpenAPI v2 and v3 documents for one registry plus the custom resources' schemas.

    Documents are built lazily, once per (``registry.generation``, custom-resource
    generation), and kept as bytes with their ETags.
    """

    def __init__(self, registry: Registry, *, title: str = "Kubernetes",
                 version: str = "v1.37.0") -> None:
        self._registry = registry
        self._info = {"title": title, "version": version}
        self._custom: dict[tuple[str, str, str], CustomResourceSchema] = {}
        self._custom_generation = 0
        self._built_for: tuple[int, int] = (-1, -1)
        self._v2: Document | None = None
        self._v2_protobuf: Document | None = None
        self._v3_index: Document | None = None
        self._v3: dict[str, Document] = {}
        self._v3_docs: dict[str, bytes] = {}
        self._converted: dict[Flavor, dict[str, Any]] = {}

    # -- custom resources --------------------------------------------------------------

    def add_custom_resource(self, group: str, version: str, kind: str, plural: str,
                            namespaced: bool, schema: Mapping[str, Any], *,
                            list_kind: str = "",
                            subresources: Iterable[str] = ()) -> None:
        """Publish (or replace) a custom resource version's ``openAPIV3Schema`` so it shows
        in ``/openapi/v2`` definitions and in its ``/openapi/v3`` group-version document
        with ``x-kubernetes-group-version-kind``, and ``kubectl explain`` can describe it.

        ``subresources`` are the CRD's (``status``, ``scale``).
        """
        record = CustomResourceSchema(group, version, kind, plural, namespaced, schema,
                                      list_kind or kind + "List", tuple(subresources))
        key = (group, version, plural)
        # CRD controllers re-publish on every sync; only a real change invalidates the
        # documents (and with them every client's cached ETag).
        if self._custom.get(key) != record:
            self._custom[key] = record
            self._custom_generation += 1

    def remove_custom_resource(self, group: str, version: str, plural: str) -> None:
        """Stop publishing a custom resource version (its CRD or version was removed)."""
        if self._custom.pop((group, version, plural), None) is not None:
            self._custom_generation += 1

    # -- definitions -------------------------------------------------------------------

    def _bundled(self, flavor: Flavor) -> dict[str, Any]:
        """All bundled definitions converted for ``flavor``; independent of the registry,
        so converted once per service."""
        if flavor not in self._converted:
            self._converted[flavor] = {
                name: convert_definition(name, schema, flavor)
                for name, schema in bundled_definitions().items()}
        return self._converted[flavor]

    def _custom_definitions(self, cr: CustomResourceSchema,
                            flavor: Flavor) -> dict[str, dict[str, Any]]:
        """The custom kind's definition and its list's, as upstream publishes CRDs."""
        bundled = self._bundled(flavor)
        # Descriptions for the type fields are taken from a built-in kind's definition so
        # custom kinds read exactly like built-in ones in `kubectl explain`.
        pod_props = bundled.get("io.k8s.api.core.v1.Pod", {}).get("properties", {})
        type_fields = {f: {k: v for k, v in pod_props.get(f, {"type": "string"}).items()}
                       for f in ("apiVersion", "kind")}
        schema: dict[str, Any] = dict(cr.schema)
        if flavor == "v2":
            schema = _custom_schema_v2(schema)
        properties = dict(schema.get("properties") or {})
        properties.update(type_fields)
        meta_ref = _ref(_META + "ObjectMeta", flavor)
        meta_description = ("Standard object's metadata. More info: https://git.k8s.io/"
                            "community/contributors/devel/sig-architecture/"
                            "api-conventions.md#metadata")
        properties["metadata"] = ({"description": meta_description, "allOf": [meta_ref]}
                                  if flavor == "v3" else
                                  {"description": meta_description, **meta_ref})
        schema["properties"] = dict(sorted(properties.items()))
        schema.setdefault("type", "object")
        schema["x-kubernetes-group-version-kind"] = [
            {"group": cr.group, "kind": cr.kind, "version": cr.version}]
        item_ref = _ref(cr.definition_name, flavor)
        list_meta = _ref(_META + "ListMeta", flavor)
        list_schema: dict[str, Any] = {
            "description": f"{cr.list_kind} is a list of {cr.kind}",
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": type_fields["apiVersion"],
                "items": {"description": f"List of {cr.plural}. More info: "
                                         "https://git.k8s.io/community/contributors/devel/"
                                         "sig-architecture/api-conventions.md",
                          "type": "array", "items": item_ref},
                "kind": type_fields["kind"],
                "metadata": ({"description": "Standard list metadata", "allOf": [list_meta]}
                             if flavor == "v3" else
                             {"description": "Standard list metadata", **list_meta}),
            },
            "x-kubernetes-group-version-kind": [
                {"group": cr.group, "kind": cr.list_kind, "version": cr.version}],
        }
        return {cr.definition_name: schema,
                custom_definition_name(cr.group, cr.version, cr.list_kind): list_schema}

    # -- resources and their paths -----------------------------------------------------

    def _served(self) -> dict[tuple[str, str], list[tuple[ResourceType,
                                                          CustomResourceSchema | None]]]:
        """Resource types per group-version: the registry's, plus published custom
        resources the registry does not (yet) list."""
        by_gv: dict[tuple[str, str], dict[str, tuple[ResourceType,
                                                     CustomResourceSchema | None]]] = {}
        for rt in self._registry.all():
            cr = self._custom.get((rt.group, rt.version, rt.plural))
            by_gv.setdefault((rt.group, rt.version), {})[rt.plural] = (rt, cr)
        for (group, version, plural), cr in self._custom.items():
            by_gv.setdefault((group, version), {}).setdefault(
                plural, (cr.resource_type(), cr))
        return {gv: [entries[p] for p in sorted(entries)] for gv, entries in by_gv.items()}

    def _builder(self, rt: ResourceType, cr: CustomResourceSchema | None) -> _PathBuilder:
        if cr is not None:
            return _PathBuilder(rt, cr.definition_name,
                                custom_definition_name(cr.group, cr.version, cr.list_kind),
                                custom=True)
        definition = _definition_for(rt.group, rt.version, rt.kind)
        list_definition = _definition_for(rt.group, rt.version, rt.list_kind)
        # A type the bundled definitions don't know is custom as far as patching goes: no
        # strategic merge patch without patch-strategy metadata.
        return _PathBuilder(rt, definition, list_definition, custom=definition is None)

    def _gv_paths(self, entries: list[tuple[ResourceType, CustomResourceSchema | None]],
                  ) -> dict[str, tuple[str, _PathItem]]:
        items: dict[str, tuple[str, _PathItem]] = {}
        for index, (rt, cr) in enumerate(entries):
            builder = self._builder(rt, cr)
            if index == 0:
                path, item = builder.api_resources()
                items[path] = (rt.kind, item)
            for path, item in builder.build().items():
                items[path] = (rt.kind, item)
        return items

    # -- build -------------------------------------------------------------------------

    def _refresh(self) -> None:
        key = (self._registry.generation, self._custom_generation)
        if key == self._built_for:
            return
        self._built_for = key
        self._v2 = None
        self._v2_protobuf = None
        self._v3_index = None
        self._v3 = {}
        self._v3_docs = {}

    def _definitions(self, flavor: Flavor) -> dict[str, Any]:
        defs = dict(self._bundled(flavor))
        for cr in self._custom.values():
            defs.update(self._custom_definitions(cr, flavor))
        return defs

    def v2_document(self) -> Document:
        """``/openapi/v2`` as JSON: every definition and every served operation."""
        self._refresh()
        if self._v2 is None:
            defs = self._definitions("v2")
            items: dict[str, tuple[str, _PathItem]] = {}
            for entries in self._served().values():
                items.update(self._gv_paths(entries))
            body = {
                "swagger": "2.0",
                "info": self._info,
                "paths": _render_paths(items, "v2"),
                "definitions": dict(sorted(defs.items())),
                "securityDefinitions": {"BearerToken": _SECURITY_SCHEME},
                "security": [{"BearerToken": []}],
            }
            data = orjson.dumps(body)
            self._v2 = Document(data, _JSON, etag_of(data))
        return self._v2

    def v2_protobuf_document(self) -> Document:
        """``/openapi/v2`` in gnostic's protobuf encoding (what client-go asks for), with
        the JSON document's ETag as kube-openapi does (the two differ by ``Vary: Accept``).
        """
        json_doc = self.v2_document()
        if self._v2_protobuf is None:
            data = encode_document(orjson.loads(json_doc.body))
            self._v2_protobuf = Document(data, PROTOBUF_V2_CONTENT_TYPE, json_doc.etag)
        return self._v2_protobuf

    def _build_v3(self) -> None:
        served = self._served()
        defs = self._definitions("v3")
        for (group, version), entries in served.items():
            items = self._gv_paths(entries)
            paths = _render_paths(items, "v3")
            schema_names = _closure(_refs(paths), defs)
            body = {
                "openapi": "3.0.0",
                "info": self._info,
                "paths": paths,
                "components": {
                    "schemas": {name: defs[name] for name in schema_names},
                    "securitySchemes": {"BearerToken": _SECURITY_SCHEME},
                },
            }
            data = orjson.dumps(body)
            self._v3[group_version_path(group, version)] = Document(data, _JSON, etag_of(data))
        index = {"paths": {
            key: {"serverRelativeURL": self.v3_url(key, doc.etag)}
            for key, doc in sorted(self._v3.items())}}
        data = orjson.dumps(index)
        self._v3_index = Document(data, _JSON, etag_of(data))

    @staticmethod
    def v3_url(key: str, etag: str) -> str:
        """``/openapi/v3/<key>?hash=<etag>``: where the index points for one document."""
        return f"/openapi/v3/{key}?" + urllib.parse.urlencode({"hash": etag})

    def v3_index(self) -> Document:
        """``/openapi/v3``: ``{"paths": {"apis/apps/v1": {"serverRelativeURL": ...}}}``."""
        self._refresh()
        if self._v3_index is None:
            self._build_v3()
        assert self._v3_index is not None
        return self._v3_index

    def v3_document(self, key: str) -> Document | None:
        """The v3 document for ``api/v1`` or ``apis/<g>/<v>``; ``None`` when not served."""
        self.v3_index()
        return self._v3.get(key.strip("/"))

    # -- HTTP-shaped entry point -------------------------------------------------------

    def respond(self, path: str, query: Mapping[str, str] | None = None,
                accept: str | None = None, if_none_match: str | None = None,
                ) -> Reply | None:
        """The answer to ``GET path`` for ``/openapi/v2``, ``/openapi/v3`` and
        ``/openapi/v3/<gv>``; ``None`` for any other path (or an unserved group-version).

        Raises a 406 :class:`~kubesmith.api.errors.StatusError` when ``accept`` admits no
        JSON (protobuf is not served).
        """
        query = query or {}
        path = path.rstrip("/")
        if path == "/openapi/v2":
            v2 = (self.v2_protobuf_document() if _v2_wants_protobuf(accept)
                  else self.v2_document())
            v2_headers = {"Content-Type": v2.content_type, "ETag": v2.quoted_etag,
                          "Vary": "Accept"}
            if if_none_match_matches(if_none_match, v2.etag):
                return Reply(304, b"", v2_headers)
            return Reply(200, v2.body, v2_headers)
        if path == "/openapi/v3":
            return _reply(self.v3_index(), if_none_match)
        if path.startswith("/openapi/v3/"):
            key = path[len("/openapi/v3/"):]
            doc = self.v3_document(key)
            if doc is None:
                return None
            _require_json(accept)
            wanted = query.get("hash", "")
            headers = {"Content-Type": doc.content_type, "ETag": doc.quoted_etag,
                       "Vary": "Accept"}
            if wanted and wanted != doc.etag:
                # A stale hash: send the client to the current document, as kube-openapi
                # does, rather than serve a body that doesn't match its URL.
                return Reply(301, b"", {"Location": self.v3_url(key, doc.etag),
                                        "Vary": "Accept"})
            if wanted:
                headers["Cache-Control"] = "public, immutable"
                headers["Expires"] = email.utils.formatdate(
                    time.time() + 365 * 24 * 3600, usegmt=True)
            if if_none_match_matches(if_none_match, doc.etag):
                return Reply(304, b"", headers)
            return Reply(200, doc.body, headers)
        return None


_V2_PROTOBUF_SUBTYPES: Final = ("com.github.proto-openapi.spec.v2@v1.0+protobuf",
                                 "com.github.proto-openapi.spec.v2.v1.0+protobuf")


def _clauses(accept: str | None) -> list[tuple[str, str]]:
    """``(type, subtype)`` of each Accept clause, most preferred first (q, then order)."""
    ranked: list[tuple[float, int, str, str]] = []
    for position, clause in enumerate((accept or "*/*").split(",")):
        parts = clause.split(";")
        kind, _, subtype = parts[0].strip().lower().partition("/")
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if kind and q > 0:
            ranked.append((-q, position, kind, subtype or "*"))
    return [(kind, subtype) for _, _, kind, subtype in sorted(ranked)]


def _v2_wants_protobuf(accept: str | None) -> bool:
    """Negotiate ``/openapi/v2`` as kube-openapi does: the first clause JSON or gnostic's
    protobuf satisfies decides, JSON winning a wildcard. Raises 406 when neither does."""
    for kind, subtype in _clauses(accept):
        if kind not in ("application", "*"):
            continue
        if subtype in ("json", "*"):
            return False
        if subtype in _V2_PROTOBUF_SUBTYPES:
            return True
    raise errors.not_acceptable(
        "only the following media types are accepted: application/json, "
        + PROTOBUF_V2_CONTENT_TYPE)


def _require_json(accept: str | None) -> None:
    """Refuse (406) an ``Accept`` that JSON cannot satisfy (v3 is served as JSON only)."""
    for kind, subtype in _clauses(accept):
        if kind in ("application", "*") and subtype in ("json", "*"):
            return
    raise errors.not_acceptable("only the following media types are accepted: "
                                "application/json")


def _reply(doc: Document, if_none_match: str | None) -> Reply:
    headers = {"Content-Type": doc.content_type, "ETag": doc.quoted_etag}
    if if_none_match_matches(if_none_match, doc.etag):
        return Reply(304, b"", headers)
    return Reply(200, doc.body, headers)
