"""Field ownership: ``metadata.managedFields`` on writes, and server-side apply.

Every write records who set which fields, as kube-apiserver's field manager does:

* :func:`track_update` — create, update and (non-apply) patch. The fields the write
  changed move to the writer's ``Update`` entry (one per manager, API version and
  subresource) and out of every other entry; entries left empty disappear. A write that
  changed nothing leaves timestamps alone. Objects that carry no managedFields are only
  tracked from their creation (upstream skips tracking otherwise), a request may reset
  them with ``managedFields: []``, and subresource writes always keep the stored ones.
  More than ten ``Update`` entries are folded, oldest first, into ``ancient-changes``.
* :func:`apply` — ``application/apply-patch+yaml``. The configuration is merged into the
  live object (:func:`.typed.merge`); the applier's ``Apply`` entry becomes exactly the
  configuration's fields; fields the applier set last time and no longer sets are
  removed unless another manager owns them; setting a field another manager owns to a
  different value is a conflict (409) unless ``force`` moves it to the applier. Applying
  the value already there shares ownership. An object without managedFields first gets a
  ``before-first-apply`` entry for what it already holds, and ``kubectl`` (the manager
  kubectl's server-side apply uses) may take over fields its client-side
  ``last-applied-configuration`` annotation proves it set, and keeps that annotation in
  step, so moving from client-side to server-side apply is conflict free.

This module is the pipeline of upstream's ``managedfields/internal`` wrappers
(versionCheck, lastApplied*, skipNonApplied, capManagers, buildManagerInfo,
managedFieldsUpdater, stripMeta, structuredMerge) folded into two functions. Both are pure
functions of their arguments (``now`` is passed in), do no I/O and run inside the API
layer's optimistic-concurrency retry loop. Managers recorded at another API version are
compared on the same paths (no conversion between versions is attempted).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import orjson

from kubesmith.api import encoding, gofmt
from kubesmith.api.errors import StatusError, bad_request
from kubesmith.api.schema import SchemaNode
from kubesmith.api.types import Obj

from .fields import FieldSet, PathElement, fieldset_of, path_string
from .schematype import TypeInfo, type_of
from .typed import (
    compare,
    ensure_named_fields_are_members,
    json_equal,
    merge,
    remove_items,
    validate,
)

__all__ = [
    "APPLY",
    "LAST_APPLIED_ANNOTATION",
    "MAX_UPDATE_MANAGERS",
    "UPDATE",
    "ManagedEntry",
    "ManagerKey",
    "apply",
    "decode_managed_fields",
    "encode_managed_fields",
    "manager_from_user_agent",
    "manager_or_user_agent",
    "track_update",
]

APPLY: Final = "Apply"
UPDATE: Final = "Update"
LAST_APPLIED_ANNOTATION: Final = "kubectl.kubernetes.io/last-applied-configuration"
MAX_UPDATE_MANAGERS: Final = 10
FIELD_MANAGER_MAX_LENGTH: Final = 128
_TOTAL_ANNOTATION_SIZE_LIMIT: Final = 256 * 1024
_BEFORE_FIRST_APPLY: Final = "before-first-apply"
_ANCIENT_CHANGES: Final = "ancient-changes"
# The manager name kubectl's server-side apply uses; only it gets the client-side apply
# upgrade path (other tools opt out by choosing another name, as upstream documents).
_KUBECTL: Final = "kubectl"

# manager, operation, apiVersion (empty for Apply: an applier is one manager whatever
# version it applies), subresource — upstream's manager identifier.
ManagerKey = tuple[str, str, str, str]


def _path(*names: str) -> tuple[PathElement, ...]:
    return tuple(PathElement.of_field(name) for name in names)


# Fields never recorded as anyone's (upstream stripMetaManager); a plain difference, so
# labels and annotations below metadata stay owned.
_STRIP: Final = FieldSet.from_paths([
    _path("apiVersion"),
    _path("kind"),
    _path("metadata"),
    _path("metadata", "name"),
    _path("metadata", "namespace"),
    _path("metadata", "creationTimestamp"),
    _path("metadata", "selfLink"),
    _path("metadata", "uid"),
    _path("metadata", "clusterName"),
    _path("metadata", "generation"),
    _path("metadata", "managedFields"),
    _path("metadata", "resourceVersion"),
])


@dataclass(frozen=True, slots=True)
class ManagedEntry:
    """One ``metadata.managedFields`` entry."""

    manager: str
    operation: str
    api_version: str
    fields: FieldSet
    time: str | None = None
    subresource: str = ""

    @property
    def key(self) -> ManagerKey:
        """The manager identity: applies share one entry across API versions."""
        version = self.api_version if self.operation == UPDATE else ""
        return (self.manager, self.operation, version, self.subresource)

    def to_json(self) -> dict[str, Any]:
        """The wire entry, fields in upstream's order, empty ones omitted."""
        entry: dict[str, Any] = {}
        if self.manager:
            entry["manager"] = self.manager
        entry["operation"] = self.operation
        if self.api_version:
            entry["apiVersion"] = self.api_version
        if self.time:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = self.fields.to_fields_v1()
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry

    @classmethod
    def from_json(cls, entry: Any, index: int = 0) -> ManagedEntry:
        """Decode a wire entry; :class:`ValueError` with upstream's wording if invalid."""
        if not isinstance(entry, Mapping):
            raise ValueError(f"managed fields entry {index} is not an object")
        operation = entry.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError("operation must be `Apply` or `Update`")
        api_version = entry.get("apiVersion")
        if not isinstance(api_version, str) or not api_version:
            raise ValueError("apiVersion must not be empty")
        fields_type = entry.get("fieldsType")
        if not fields_type:
            raise ValueError(f"missing fieldsType in managed fields entry {index}")
        if fields_type != "FieldsV1":
            raise ValueError(f"invalid fieldsType {gofmt.quote(str(fields_type))} in managed "
                             f"fields entry {index}")
        try:
            fields = FieldSet.from_fields_v1(entry.get("fieldsV1"))
        except ValueError as err:
            raise ValueError(f"error decoding versioned set from entry {index}: "
                             f"error decoding set: {err}") from err
        manager = entry.get("manager") or ""
        time = entry.get("time")
        subresource = entry.get("subresource") or ""
        return cls(str(manager), str(operation), api_version, fields,
                   time if isinstance(time, str) and time else None, str(subresource))


Managed = dict[ManagerKey, ManagedEntry]


def decode_managed_fields(entries: Any) -> Managed:
    """Entries by manager identity (a later duplicate identity wins, as upstream).

    ``None`` decodes to no entries; anything malformed raises :class:`ValueError`.
    """
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    managed: Managed = {}
    for index, raw in enumerate(entries):
        entry = ManagedEntry.from_json(raw, index)
        managed[entry.key] = entry
    return managed


def _seconds(time: str | None) -> int:
    if not time:
        return 0
    try:
        return int(datetime.fromisoformat(time).timestamp())
    except ValueError:
        return 0


def encode_managed_fields(entries: Iterable[ManagedEntry]) -> list[dict[str, Any]]:
    """Wire entries sorted as upstream sorts them: Apply first, then oldest first."""
    ordered = sorted(entries, key=lambda e: (e.operation, _seconds(e.time), e.manager,
                                             e.api_version, e.subresource))
    return [entry.to_json() for entry in ordered]


def _identifier(key: ManagerKey) -> str:
    """Upstream's manager identifier: the entry's identity fields as Go JSON."""
    manager, operation, version, subresource = key
    parts = []
    if manager:
        parts.append('"manager":' + gofmt.json_string(manager))
    parts.append('"operation":' + gofmt.json_string(operation))
    if version:
        parts.append('"apiVersion":' + gofmt.json_string(version))
    if subresource:
        parts.append('"subresource":' + gofmt.json_string(subresource))
    return "{" + ",".join(parts) + "}"


def _print_manager(key: ManagerKey) -> str:
    manager, operation, version, subresource = key
    text = gofmt.quote(manager)
    if subresource:
        text += f" with subresource {gofmt.quote(subresource)}"
    if operation == UPDATE:
        text += f" using {version}"
    return text


# -- user agents -------------------------------------------------------------------------


def manager_from_user_agent(user_agent: str) -> str:
    """The default field manager: the User-Agent up to its first ``/``.

    Non-printable characters are dropped and the result is cut at 128 bytes, like
    upstream's ``prefixFromUserAgent`` (``kubectl/v1.37.1 (linux/amd64) ...`` → ``kubectl``).
    """
    prefix = user_agent.split("/", 1)[0]
    out: list[str] = []
    size = 0
    for char in prefix:
        if not _go_printable(char):
            continue
        width = len(char.encode("utf-8", "surrogatepass"))
        if size + width > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(char)
        size += width
    return "".join(out)


def _go_printable(char: str) -> bool:
    """Go's ``unicode.IsPrint``: letters, marks, numbers, punctuation, symbols, ASCII space."""
    return char == " " or unicodedata.category(char)[0] in "LMNPS"


def manager_or_user_agent(manager: str | None, user_agent: str) -> str:
    """The request's ``fieldManager`` if given, else :func:`manager_from_user_agent`."""
    return manager if manager else manager_from_user_agent(user_agent)


# -- shared machinery --------------------------------------------------------------------


class _Conflicts(Exception):
    """Fields another manager owns that the apply would change."""

    def __init__(self, conflicts: dict[ManagerKey, FieldSet]) -> None:
        super().__init__("apply conflicts")
        self.conflicts = conflicts


def _conflict_error(conflicts: dict[ManagerKey, FieldSet]) -> StatusError:
    """Upstream's ``NewConflictError``: 409 Conflict with one cause per field."""
    ordered = sorted(conflicts.items(), key=lambda item: _identifier(item[0]))
    pairs = [(key, path_string(path)) for key, fields in ordered for path in fields.paths()]
    causes = [{"reason": "FieldManagerConflict",
               "message": f"conflict with {_print_manager(key)}",
               "field": field} for key, field in pairs]
    if len(pairs) == 1:
        key, field = pairs[0]
        message = f"Apply failed with 1 conflict: conflict with {_print_manager(key)}: {field}"
    else:
        lines: list[str] = []
        for key, fields in ordered:
            lines.append(f"conflicts with {_print_manager(key)}:")
            lines.extend(f"- {path_string(path)}" for path in fields.paths())
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, {"causes": causes})


def _update_managers(live: Any, new: Any, t: TypeInfo, managed: Managed,
                     writer: ManagerKey | None, *, force: bool,
                     reset: FieldSet | None) -> tuple[FieldSet, FieldSet]:
    """Upstream ``Updater.update``: take changed fields from every manager but ``writer``.

    Returns (changed, removed). Without ``force``, fields other managers own that changed
    raise :class:`_Conflicts` instead.
    """
    comparison = compare(live, new, t, materialize=True).exclude(reset)
    changed = comparison.modified.union(comparison.added)
    removed = comparison.removed
    conflicts: dict[ManagerKey, FieldSet] = {}
    for key, entry in managed.items():
        if key == writer:
            continue
        clash = entry.fields.intersection(changed)
        if clash:
            conflicts[key] = clash
    if conflicts and not force:
        raise _Conflicts(conflicts)
    for key in list(managed):
        if key == writer:
            continue
        entry = managed[key]
        fields = entry.fields
        if key in conflicts:
            fields = fields.difference(conflicts[key])
        if removed:
            fields = fields.difference(removed)
        if fields is not entry.fields:
            managed[key] = replace(entry, fields=fields)
    for key in [key for key, entry in managed.items() if not entry.fields]:
        del managed[key]
    return changed, removed


def _record_update(live: Any, new: Any, t: TypeInfo, managed: Managed, key: ManagerKey,
                   *, api_version: str, now: str, reset: FieldSet | None) -> None:
    """One non-apply write by ``key``: upstream's managedFieldsUpdater over Update."""
    changed, _ = _update_managers(live, new, t, managed, None, force=True, reset=reset)
    fields = changed.recursive_difference(reset) if reset else changed
    fields = fields.difference(_STRIP)
    if not fields:
        # Nothing of substance changed: no entry, no new timestamp.
        return
    previous = managed.get(key)
    if previous is not None:
        fields = fields.union(previous.fields)
    manager, _, _, subresource = key
    managed[key] = ManagedEntry(manager, UPDATE, api_version, fields, now, subresource)


def _cap_update_managers(managed: Managed) -> None:
    """Fold the oldest Update entries into ``ancient-changes`` beyond ten of them."""
    updaters = [key for key, entry in managed.items() if entry.operation == UPDATE]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda key: (_seconds(managed[key].time), _identifier(key)))
    first_by_version: dict[str, ManagerKey] = {}
    remaining = len(updaters)
    for key in updaters:
        if remaining <= MAX_UPDATE_MANAGERS:
            break
        entry = managed[key]
        version = entry.api_version
        first = first_by_version.get(version)
        if first is None:
            first_by_version[version] = key
            continue
        bucket: ManagerKey = (_ANCIENT_CHANGES, UPDATE, version, "")
        if bucket not in managed:
            moved = managed.pop(first)
            managed[bucket] = ManagedEntry(_ANCIENT_CHANGES, UPDATE, version, moved.fields,
                                           moved.time)
        merged = managed[bucket].fields.union(entry.fields)
        managed[bucket] = ManagedEntry(_ANCIENT_CHANGES, UPDATE, version, merged, entry.time)
        del managed[key]
        remaining -= 1


def _without_managed_fields(obj: Obj) -> Obj:
    """A shallow view of ``obj`` whose metadata lacks managedFields."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _store(obj: Obj, managed: Managed) -> None:
    meta = obj.setdefault("metadata", {})
    if managed:
        meta["managedFields"] = encode_managed_fields(managed.values())
    else:
        meta.pop("managedFields", None)


def _is_reset(entries: Any) -> bool:
    """``managedFields: []`` or a single empty entry asks for the history to be dropped."""
    return isinstance(entries, list) and (not entries or entries == [{}])


def _managed_fields_of(obj: Obj | None) -> Any:
    if obj is None:
        return None
    meta = obj.get("metadata")
    return meta.get("managedFields") if isinstance(meta, dict) else None


def _decode_or_empty(entries: Any) -> Managed:
    try:
        return decode_managed_fields(entries)
    except ValueError:
        return {}


# -- non-apply writes --------------------------------------------------------------------


def track_update(old: Obj | None, new: Obj, manager: str, api_version: str, now: str,
                 subresource: str = "", *, node: SchemaNode | None,
                 reset_fields: FieldSet | None = None) -> None:
    """Record a create/update/patch by ``manager`` in ``new``'s managedFields, in place.

    ``old`` is the stored object (``None`` on create), ``new`` the object about to be
    stored, ``api_version`` the request's group/version (``apps/v1``), ``now`` the
    RFC 3339 time of the write, ``subresource`` e.g. ``"status"`` or ``"scale"``, ``node``
    the kind's schema (``None`` for a schemaless custom resource) and ``reset_fields`` the
    fields the strategy resets for this endpoint (never owned, e.g. ``status`` on the main
    resource). An empty ``manager`` is recorded as ``unknown``. ``new`` must not share
    mutated containers with ``old``: the two are compared to find what the write changed.
    Undecodable managedFields are dropped rather than failing the write, as upstream does.
    """
    if subresource:
        managed = _decode_or_empty(_managed_fields_of(old))
    else:
        requested = _managed_fields_of(new)
        if _is_reset(requested):
            managed = {}
        else:
            managed = _decode_or_empty(requested)
            if not managed:
                managed = _decode_or_empty(_managed_fields_of(old))
    meta = new.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    if not managed and old is not None:
        # Upstream only starts tracking an untracked object at its creation or first apply.
        return
    t = type_of(node)
    live = _without_managed_fields(old) if old is not None else {}
    key: ManagerKey = (manager or "unknown", UPDATE, api_version, subresource)
    _record_update(live, new, t, managed, key, api_version=api_version, now=now,
                   reset=reset_fields)
    _cap_update_managers(managed)
    _store(new, managed)


# -- server-side apply -------------------------------------------------------------------


def _group_version_kind(api_version: str, kind: str) -> str:
    """``schema.GroupVersionKind.String()``: ``apps/v1, Kind=Deployment``, ``/v1, Kind=Pod``."""
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"


def _gvknn(config: Obj) -> str:
    meta = config.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    namespace = meta.get("namespace") or ""
    name = meta.get("name") or ""
    gvk = _group_version_kind(str(config.get("apiVersion") or ""), str(config.get("kind") or ""))
    return f"{namespace}/{name}; {gvk}"


def _build_last_applied(config: Obj) -> str:
    """The client-side apply annotation for ``config``: Go JSON of it, newline-terminated."""
    copy = encoding.copy(config)
    meta = copy.get("metadata")
    if isinstance(meta, dict):
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED_ANNOTATION, None)
    return gofmt.marshal(copy) + "\n"


def _set_last_applied(obj: Obj, value: str) -> None:
    meta = obj.setdefault("metadata", {})
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
    annotations = {**annotations, LAST_APPLIED_ANNOTATION: value}
    size = sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > _TOTAL_ANNOTATION_SIZE_LIMIT:
        # Too big to keep; upstream drops the annotation rather than fail the apply.
        del annotations[LAST_APPLIED_ANNOTATION]
    meta["annotations"] = annotations


def _last_applied(obj: Obj | None) -> str | None:
    if obj is None:
        return None
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    value = annotations.get(LAST_APPLIED_ANNOTATION) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) and value else None


def _allowed_by_last_applied(live: Obj | None, api_version: str,
                             t: TypeInfo) -> FieldSet | None:
    """Fields the client-side apply annotation shows kubectl set (and still match)."""
    text = _last_applied(live)
    if text is None or live is None:
        return None
    try:
        last = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return None
    comparison = compare(last, live, t)
    return (fieldset_of(last, t).difference(comparison.modified)
            .difference(comparison.added).difference(comparison.removed))


def _prune(merged: Any, managed: Managed, key: ManagerKey, last: FieldSet | None,
           t: TypeInfo) -> Any:
    """Drop what the applier set last time, no longer sets, and nobody else owns."""
    if not last:
        return merged
    last_named = ensure_named_fields_are_members(last, t)
    pruned = remove_items(merged, last_named, t)
    owned = FieldSet()
    for entry in managed.values():
        owned = owned.union(entry.fields)
    merged_set = ensure_named_fields_are_members(fieldset_of(merged, t), t)
    pruned_set = ensure_named_fields_are_members(fieldset_of(pruned, t), t)
    owned_named = ensure_named_fields_are_members(owned, t)
    # Put back whatever someone (the applier's new configuration included) owns...
    pruned = remove_items(merged, merged_set.difference(pruned_set.union(owned_named)), t)
    # ...and anything the pruning took that the applier never owned (dangling items).
    pruned_set = ensure_named_fields_are_members(fieldset_of(pruned, t), t)
    return remove_items(merged, merged_set.difference(pruned_set).intersection(last_named), t)


def _apply_once(live: Obj | None, config: Obj, key: ManagerKey, managed: Managed, t: TypeInfo,
                *, force: bool, api_version: str, now: str,
                reset: FieldSet | None) -> tuple[Obj, Managed]:
    managed = dict(managed)
    live_obj: Obj = live if live is not None else {}
    manager, _, _, subresource = key
    if not managed and live is not None:
        # Own what the object already holds before the first apply takes anything over.
        before: ManagerKey = (_BEFORE_FIRST_APPLY, UPDATE, api_version, subresource)
        _record_update({}, live_obj, t, managed, before, api_version=api_version, now=now,
                       reset=reset)
        _cap_update_managers(managed)

    try:
        merged = merge(live_obj, config, t)
    except ValueError as err:
        raise StatusError(500, "", f"failed to merge config: {err}") from err
    previous = managed.get(key)
    applied = fieldset_of(config, t)
    if reset:
        applied = applied.recursive_difference(reset)
    managed[key] = ManagedEntry(manager, APPLY, api_version, applied,
                                previous.time if previous is not None else None, subresource)
    merged = _prune(merged, managed, key, previous.fields if previous is not None else None,
                    t)
    _update_managers(live_obj, merged, t, managed, key, force=force, reset=reset)

    changed = not json_equal(live_obj, merged)
    entry = managed.get(key)
    if entry is not None:
        kept = entry.fields.difference(_STRIP)
        if not kept:
            del managed[key]
        else:
            # A no-op apply keeps the entry's old timestamp (or none), like upstream.
            managed[key] = replace(entry, fields=kept, time=now if changed else entry.time)
    result = merged if changed else live_obj
    return result, managed


def apply(live: Obj | None, config: Obj, manager: str, *, force: bool, api_version: str,
          now: str, node: SchemaNode | None, kind: str | None = None,
          subresource: str = "", reset_fields: FieldSet | None = None) -> Obj:
    """Server-side apply ``config`` as ``manager``; return the object to store.

    ``live`` is the stored object (``None`` creates it), ``config`` the decoded apply
    patch, ``api_version``/``kind`` the endpoint's (``kind`` defaults to the live
    object's), ``node`` the kind's schema (``None`` for schemaless custom resources),
    ``reset_fields`` the fields the endpoint's strategy resets. The result is a new
    object with ``metadata.managedFields`` set; inputs are not modified.

    Raises :class:`StatusError`: 400 for a wrong apiVersion/kind or a configuration
    carrying managedFields, 409 ``Conflict`` (upstream's message and
    ``FieldManagerConflict`` causes) unless ``force``, and 500 with upstream's message
    when the configuration cannot be typed (duplicate or missing list keys, wrong
    scalar types) or the stored managedFields cannot be decoded.
    """
    if not isinstance(config, dict):
        raise bad_request("apply patch must be a JSON object")
    expected_kind = kind if kind is not None else (live or {}).get("kind", config.get("kind"))
    applied_version = config.get("apiVersion")
    applied_kind = config.get("kind")
    if applied_version != api_version or applied_kind != expected_kind:
        gvk = _group_version_kind(str(applied_version or ""), str(applied_kind or ""))
        raise bad_request(f"invalid object type: {gvk}")
    config_meta = config.get("metadata")
    if isinstance(config_meta, dict) and isinstance(config_meta.get("managedFields"), list):
        raise bad_request("metadata.managedFields must be nil")

    t = type_of(node)
    errors = validate(config, t)
    if errors:
        detail = errors[0] if len(errors) == 1 else \
            "errors:\n" + "\n".join(f"  {error}" for error in errors)
        raise StatusError(500, "", f"failed to create typed patch object "
                                   f"({_gvknn(config)}): {detail}")
    try:
        managed = decode_managed_fields(_managed_fields_of(live))
    except ValueError as err:
        raise StatusError(500, "", f"failed to decode managed fields: {err}") from err

    live_view = _without_managed_fields(live) if live is not None else None
    key: ManagerKey = (manager or "unknown", APPLY, "", subresource)
    options: dict[str, Any] = {"api_version": api_version, "now": now, "reset": reset_fields}
    try:
        result, managed = _apply_once(live_view, config, key, managed, t, force=force,
                                      **options)
    except _Conflicts as conflicts:
        allowed = _allowed_by_last_applied(live_view, api_version, t) \
            if manager == _KUBECTL else None
        if allowed is None:
            raise _conflict_error(conflicts.conflicts) from None
        remaining: dict[ManagerKey, FieldSet] = {}
        for owner, fields in conflicts.conflicts.items():
            left = FieldSet.from_paths(p for p in fields.paths() if not allowed.has(p))
            if left:
                remaining[owner] = left
        if remaining:
            raise _conflict_error(remaining) from None
        # Every conflict is a field kubectl's client-side apply set: take them over.
        result, managed = _apply_once(live_view, config, key, managed, t, force=True,
                                      **options)

    result = encoding.copy(result)
    if manager == _KUBECTL and _last_applied(result) is not None:
        _set_last_applied(result, _build_last_applied(config))
    _store(result, managed)
    return result
