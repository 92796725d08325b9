"""Per-request object handling shared by the handlers: type checks on incoming bodies,
field validation (Strict/Warn/Ignore), selectors, and the response forms (full object,
PartialObjectMetadata, Table)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubesmith.api import errors, selectors, tables
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj
from kubesmith.api.watchcache import Predicate
from kubesmith.apiserver.negotiation import ResponseForm

# Subresources whose body is another kind than the resource's own.
_SUBRESOURCE_KINDS = {
    "scale": ("autoscaling/v1", "Scale"),
    "binding": ("v1", "Binding"),
    "eviction": ("policy/v1", "Eviction"),
    "token": ("authentication.k8s.io/v1", "TokenRequest"),
}


def expected_type(rt: ResourceType, subresource: str) -> tuple[str, str]:
    """(apiVersion, kind) a request body to ``rt``/``subresource`` must carry."""
    return _SUBRESOURCE_KINDS.get(subresource, (rt.api_version, rt.kind))


def check_type(rt: ResourceType, obj: Obj, subresource: str) -> None:
    """400 unless the body's apiVersion/kind are the endpoint's (filled in when absent, as
    upstream's decoder defaults them)."""
    want_version, want_kind = _SUBRESOURCE_KINDS.get(subresource, (rt.api_version, rt.kind))
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise errors.bad_request(
            f'{want_kind} in version "{want_version.rpartition("/")[2]}" cannot be handled as '
            f"a {want_kind}: json: cannot unmarshal {type(meta).__name__} into Go struct "
            f"field {want_kind}.metadata of type v1.ObjectMeta")
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if kind is None and api_version is None:
        obj["apiVersion"] = want_version
        obj["kind"] = want_kind
        return
    if not isinstance(kind, str) or not kind:
        raise errors.bad_request(f"Object 'Kind' is missing in '{_short(obj)}'")
    if not isinstance(api_version, str) or not api_version:
        raise errors.bad_request(f"Object 'apiVersion' is missing in '{_short(obj)}'")
    if kind != want_kind:
        raise errors.bad_request(
            f"the object provided is unrecognized (must be of type {want_kind}): "
            f'{kind} in version "{api_version}" cannot be handled as a {want_kind}')
    if api_version != want_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({want_version})")


def body_strategy(rt: ResourceType, subresource: str) -> Strategy:
    """A strategy for checking the body of a subresource or computed resource (its schema
    is the body kind's, e.g. autoscaling/v1 Scale for ``/scale``)."""
    api_version, kind = expected_type(rt, subresource)
    group, _, version = api_version.rpartition("/")
    return Strategy(ResourceType(group, version, kind, rt.plural, rt.namespaced))


def _short(obj: Obj) -> str:
    text = str(obj)
    return text if len(text) < 200 else text[:200] + "..."


def _cannot_decode(strategy: Strategy, obj: Obj, problem: str) -> errors.StatusError:
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) else strategy.rt.kind
    return errors.bad_request(
        f'{kind} in version "{strategy.rt.version}" cannot be handled as a {kind}: '
        f"{problem}")


def apply_field_validation(strategy: Strategy, obj: Obj, mode: str,
                           warnings: list[str]) -> None:
    """Decode ``obj`` as upstream's strict decoder would.

    Values of the wrong JSON type → 400. Unknown fields: Strict → 400, Warn (the default)
    → warning, Ignore → silent; they are dropped in every mode that lets the request
    through, as upstream's decoder does."""
    if mode not in ("", "Strict", "Warn", "Ignore"):
        raise errors.bad_request(
            f'fieldValidation: Unsupported value: "{mode}": supported values: "Ignore", '
            '"Strict", "Warn"')
    problem = strategy.decode_error(obj)
    if problem:
        raise _cannot_decode(strategy, obj, problem)
    unknown = strategy.prune(obj)
    if not unknown:
        return
    if mode == "Strict":
        raise _cannot_decode(strategy, obj, "strict decoding error: " + ", ".join(
            f'unknown field "{u}"' for u in unknown))
    if mode in ("", "Warn"):
        warnings.extend(f'unknown field "{u}"' for u in unknown)


def predicate_for(rt: ResourceType, label_text: str, field_text: str
                  ) -> tuple[Predicate | None, bool]:
    """A filter over cached objects for the request's selectors (None = everything)."""
    label_sel = selectors.parse_label_selector(label_text) if label_text else None
    field_sel = selectors.parse_field_selector(field_text) if field_text else None
    if field_sel is not None:
        # Validation also rewrites labels to the internal ones field sets use
        # (events.k8s.io's regarding.* → involvedObject.*, pods' spec.host → spec.nodeName).
        field_sel = selectors.validate_field_selector(rt.group, rt.kind, field_sel,
                                                      version=rt.version)
    if label_sel is not None and label_sel.empty:
        label_sel = None
    if field_sel is not None and field_sel.empty:
        field_sel = None
    if label_sel is None and field_sel is None:
        return None, False
    if field_sel is None:
        assert label_sel is not None
        lmatch = label_sel.matches
        return (lambda c: lmatch(c.labels)), True
    fmatch = field_sel.matches
    if label_sel is None:
        return (lambda c: fmatch(c.fields)), True
    lmatch2 = label_sel.matches
    return (lambda c: lmatch2(c.labels) and fmatch(c.fields)), True


def partial_metadata(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


def render_table(strategy: Strategy, objs: list[Obj], list_meta: dict[str, Any],
                 form: ResponseForm, *, headers: bool = True) -> Obj:
    printer = strategy.table_printer()
    include = form.include_object
    table = tables.build_table(printer, objs, include_object=include, list_meta=list_meta,
                               now=datetime.now(UTC))
    if not headers:
        table["columnDefinitions"] = None
    return table


def render_one(strategy: Strategy, obj: Obj, form: ResponseForm) -> Obj:
    if form.as_kind == "Table":
        meta = obj.get("metadata", {})
        return render_table(strategy, [obj], {"resourceVersion": meta.get("resourceVersion", "")},
                            form)
    if form.as_kind == "PartialObjectMetadata":
        return partial_metadata(obj)
    if form.as_kind == "PartialObjectMetadataList":
        raise errors.not_acceptable("PartialObjectMetadataList is only served for lists")
    return obj


def render_list(strategy: Strategy, objs: list[Obj], list_meta: dict[str, Any],
                form: ResponseForm) -> Obj:
    rt = strategy.rt
    if form.as_kind == "Table":
        return render_table(strategy, objs, list_meta, form)
    if form.as_kind in ("PartialObjectMetadataList", "PartialObjectMetadata"):
        return {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                "metadata": list_meta, "items": [partial_metadata(o) for o in objs]}
    return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": list_meta,
            "items": objs}


def render_written(strategy: Strategy, obj: Obj, form: ResponseForm) -> Obj:
    return render_one(strategy, obj, form) if form.as_kind else obj


def allow_create_on_update(rt: ResourceType) -> bool:
    """PUT to a missing object creates it for these kinds only (upstream strategies)."""
    return (rt.group, rt.plural) in {("", "endpoints"), ("coordination.k8s.io", "leases"),
                                      ("", "nodes"), ("", "events"),
                                      ("events.k8s.io", "events")}


def returns_deleted_object(rt: ResourceType) -> bool:
    """DELETE answers with the object (not a Status) for kinds that upstream configures
    so, and for every custom resource."""
    return rt.plural in ("pods", "namespaces", "services", "persistentvolumes",
                         "persistentvolumeclaims", "nodes", "deployments", "replicasets",
                         "statefulsets", "daemonsets", "jobs", "cronjobs",
                         "replicationcontrollers", "customresourcedefinitions")
