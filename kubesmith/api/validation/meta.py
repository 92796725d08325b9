"""ObjectMeta, labels, annotations, selectors and owner references.

Mirrors ``k8s.io/apimachinery/pkg/api/validation/objectmeta.go`` and
``pkg/apis/meta/v1/validation`` plus the core additions (legacy finalizer names). Paths are
rooted at ``metadata`` unless the caller passes another (pod templates use
``spec.template.metadata``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from kubesmith.api.errors import (
    FieldError,
    duplicate,
    field_forbidden,
    invalid,
    not_supported,
    required,
    too_long,
)
from kubesmith.api.validation._fields import (
    FIELD_IMMUTABLE,
    IS_NEGATIVE,
    as_list,
    as_map,
    get_int,
    get_list,
    get_map,
    get_str,
    has,
    immutable,
    invalid_each,
    sorted_items,
)
from kubesmith.api.validation.names import (
    NameRule,
    is_dns1123_subdomain,
    is_label_value,
    is_qualified_name,
    validate_namespace_name,
)

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
_HTTP_PATH = re.compile(r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+")
FIELD_MANAGER_MAX_LENGTH = 128
MAX_SUBRESOURCE_NAME_LENGTH = 256
STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})

# Objects of these kinds may never own others (upstream's BannedOwners).
_BANNED_OWNERS = frozenset({("", "v1", "Event")})


def validate_label_name(name: str, path: str) -> list[FieldError]:
    """A label key (qualified name)."""
    return invalid_each(path, name, is_qualified_name(name))


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """Every key a qualified name, every value a label value; errors on the map's path."""
    errs: list[FieldError] = []
    for key, value in sorted_items(as_map(labels)):
        errs += validate_label_name(key, path)
        text = value if isinstance(value, str) else ""
        errs += invalid_each(path, text, is_label_value(text))
    return errs


def annotations_size(annotations: Any) -> int:
    """Total bytes of keys and values, as upstream counts them."""
    total = 0
    for key, value in as_map(annotations).items():
        total += len(key.encode()) + len(value.encode() if isinstance(value, str) else b"")
    return total


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    """Keys are qualified names (case-insensitively); all together at most 256 KiB."""
    errs: list[FieldError] = []
    for key, _ in sorted_items(as_map(annotations)):
        errs += invalid_each(path, key, is_qualified_name(key.lower()))
    if annotations_size(annotations) > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def _parse_group_version(api_version: str) -> tuple[str, str] | None:
    """``(group, version)`` or None when malformed (upstream ``ParseGroupVersion``)."""
    if not api_version:
        return "", ""
    if api_version == "v1":
        return "", "v1"
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    """Each reference complete and allowed; at most one controller."""
    errs: list[FieldError] = []
    first_controller = ""
    for i, raw in enumerate(as_list(refs)):
        ref = as_map(raw)
        ref_path = f"{path}[{i}]"
        api_version = get_str(ref, "apiVersion")
        gv = _parse_group_version(api_version)
        if not api_version:
            errs.append(required(f"{ref_path}.apiVersion", "must not be empty"))
        elif gv is None or not gv[1]:
            errs.append(invalid(f"{ref_path}.apiVersion", api_version,
                                "must be <group>/<version> or <version>"))
        kind = get_str(ref, "kind")
        if not kind:
            errs.append(required(f"{ref_path}.kind", "must not be empty"))
        if not get_str(ref, "name"):
            errs.append(required(f"{ref_path}.name", "must not be empty"))
        if not get_str(ref, "uid"):
            errs.append(required(f"{ref_path}.uid", "must not be empty"))
        group, version = gv or ("", "")
        if (group, version, kind) in _BANNED_OWNERS:
            errs.append(invalid(
                ref_path, ref, f"{group}/{version}, Kind={kind} is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{get_str(ref, 'name')}"
            if first_controller:
                errs.append(invalid(
                    path, refs,
                    'Only one reference can have Controller set to true. Found "true" in '
                    f"references for {first_controller} and {current}"))
            else:
                first_controller = current
    return errs


def validate_finalizer_name(name: str, path: str) -> list[FieldError]:
    """A finalizer must be a qualified name."""
    return invalid_each(path, name, is_qualified_name(name))


def validate_kube_finalizer_name(name: str, path: str) -> list[FieldError]:
    """Core's extra rule: an unprefixed finalizer must be one of the standard names."""
    if "/" not in name and name not in STANDARD_FINALIZERS:
        return [invalid(path, name,
                        "name is neither a standard finalizer name nor is it fully qualified")]
    return []


def validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    """Names valid; ``orphan`` and ``foregroundDeletion`` are mutually exclusive."""
    errs: list[FieldError] = []
    names = [f for f in as_list(finalizers) if isinstance(f, str)]
    for name in names:
        errs += validate_finalizer_name(name, path)
    if "orphan" in names and "foregroundDeletion" in names:
        errs.append(invalid(path, names,
                            "finalizer orphan and foregroundDeletion cannot be both set"))
    return errs


def validate_field_manager(manager: str, path: str) -> list[FieldError]:
    """At most 128 bytes of printable characters."""
    errs: list[FieldError] = []
    if len(manager.encode()) > FIELD_MANAGER_MAX_LENGTH:
        errs.append(too_long(path, "", FIELD_MANAGER_MAX_LENGTH))
    offset = 0
    for char in manager:
        if not _is_print(char):
            errs.append(invalid(path, manager,
                                f"invalid character U+{ord(char):04X} {_go_quote_rune(char)} "
                                f"(at position {offset})"))
        offset += len(char.encode())
    return errs


def _is_print(char: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
    return char == " " or unicodedata.category(char)[0] in "LMNPS"


def _go_quote_rune(char: str) -> str:
    # %#U prints the rune quoted only when it is printable; callers pass unprintable ones.
    return "" if not _is_print(char) else f"'{char}'"


def validate_managed_fields(entries: Any, path: str) -> list[FieldError]:
    """Each entry has a valid operation, fieldsType and manager."""
    errs: list[FieldError] = []
    for i, raw in enumerate(as_list(entries)):
        entry = as_map(raw)
        entry_path = f"{path}[{i}]"
        operation = get_str(entry, "operation")
        if not operation:
            errs.append(required(f"{entry_path}.operation", "must not be empty"))
        elif operation not in ("Apply", "Update"):
            errs.append(not_supported(f"{entry_path}.operation", operation, ["Apply", "Update"]))
        fields_type = get_str(entry, "fieldsType")
        if fields_type and fields_type != "FieldsV1":
            errs.append(invalid(f"{entry_path}.fieldsType", fields_type, "must be `FieldsV1`"))
        errs += validate_field_manager(get_str(entry, "manager"), f"{entry_path}.manager")
        if len(get_str(entry, "subresource")) > MAX_SUBRESOURCE_NAME_LENGTH:
            errs.append(too_long(f"{entry_path}.subresource", "", MAX_SUBRESOURCE_NAME_LENGTH))
    return errs


def _common(meta: dict[str, Any], namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    namespace = get_str(meta, "namespace")
    if namespaced:
        if not namespace:
            errs.append(required(f"{path}.namespace", ""))
        else:
            errs += invalid_each(f"{path}.namespace", namespace,
                                 validate_namespace_name(namespace, False))
    elif namespace:
        errs.append(field_forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = get_int(meta, "generation")
    if generation is not None and generation < 0:
        errs.append(invalid(f"{path}.generation", generation, IS_NEGATIVE))
    errs += validate_labels(meta.get("labels"), f"{path}.labels")
    errs += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    errs += validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences")
    errs += validate_finalizers(meta.get("finalizers"), f"{path}.finalizers")
    errs += validate_managed_fields(meta.get("managedFields"), f"{path}.managedFields")
    return errs


def _kube_finalizers(meta: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, name in enumerate(get_list(meta, "finalizers")):
        if isinstance(name, str):
            errs += validate_kube_finalizer_name(name, f"{path}.finalizers[{i}]")
    return errs


def validate_object_meta(meta: Any, *, namespaced: bool, name_rule: NameRule,
                         path: str = "metadata", kube_finalizers: bool = True
                         ) -> list[FieldError]:
    """Upstream ``ValidateObjectMeta`` (core flavour) for an object being created.

    ``kube_finalizers=False`` gives the generic apimachinery flavour that
    apiextensions uses for CRDs and custom resources: any qualified finalizer name is fine.

    ``name_rule`` is the kind's name function (:mod:`kubesmith.api.validation.names`); name
    generation is expected to have happened already, so ``name`` must be set.
    """
    meta = as_map(meta)
    errs: list[FieldError] = []
    generate_name = get_str(meta, "generateName")
    if generate_name:
        errs += invalid_each(f"{path}.generateName", generate_name,
                             name_rule(generate_name, True))
    name = get_str(meta, "name")
    if not name:
        errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs += invalid_each(f"{path}.name", name, name_rule(name, False))
    errs += _common(meta, namespaced, path)
    if kube_finalizers:
        errs += _kube_finalizers(meta, path)
    return errs


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata", *,
                                kube_finalizers: bool = True) -> list[FieldError]:
    """Upstream ``ValidateObjectMetaUpdate``: identity and timestamps are immutable."""
    new, old = as_map(new), as_map(old)
    errs: list[FieldError] = []
    if has(old, "deletionTimestamp"):
        added = sorted(set(get_list(new, "finalizers")) - set(get_list(old, "finalizers")),
                       key=str)
        if added:
            shown = "[]string{" + ", ".join(f'"{f}"' for f in added) + "}"
            errs.append(field_forbidden(
                f"{path}.finalizers",
                "no new finalizers can be added if the object is being deleted, found new "
                f"finalizers {shown}"))
    if not get_str(new, "resourceVersion"):
        errs.append(invalid(f"{path}.resourceVersion", get_str(new, "resourceVersion"),
                            "must be specified for an update"))
    new_generation = get_int(new, "generation") or 0
    old_generation = get_int(old, "generation") or 0
    if new_generation < 0:
        errs.append(invalid(f"{path}.generation", new_generation, IS_NEGATIVE))
    if new_generation < old_generation:
        errs.append(invalid(f"{path}.generation", new_generation, "must not be decremented"))
    errs += immutable(get_str(new, "name"), get_str(old, "name"), f"{path}.name")
    errs += immutable(get_str(new, "namespace"), get_str(old, "namespace"), f"{path}.namespace")
    errs += immutable(get_str(new, "uid"), get_str(old, "uid"), f"{path}.uid")
    for key in ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        if new.get(key) != old.get(key):
            errs.append(invalid(f"{path}.{key}", new.get(key), FIELD_IMMUTABLE))
    errs += validate_labels(new.get("labels"), f"{path}.labels")
    errs += validate_annotations(new.get("annotations"), f"{path}.annotations")
    errs += validate_owner_references(new.get("ownerReferences"), f"{path}.ownerReferences")
    errs += validate_managed_fields(new.get("managedFields"), f"{path}.managedFields")
    if kube_finalizers:
        errs += _kube_finalizers(new, path)
    return errs


_TEMPLATE_META_ALLOWED = frozenset({"annotations", "labels"})
# ObjectMeta fields a template might carry, in Go struct order (for stable error order).
_TEMPLATE_META_FIELDS = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)


def validate_meta_and_spec(obj: Any, spec_rule: Callable[[dict[str, Any]], list[FieldError]],
                           *, namespaced: bool, name_rule: NameRule) -> list[FieldError]:
    """An object being created: :func:`validate_object_meta` of its metadata, then
    ``spec_rule`` of its spec."""
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=namespaced,
                                name_rule=name_rule)
    return errs + spec_rule(get_map(obj, "spec"))


def validate_meta_and_spec_update(new: Any, old: Any,
                                  spec_rule: Callable[[dict[str, Any]], list[FieldError]]
                                  ) -> list[FieldError]:
    """An object being updated: :func:`validate_object_meta_update` of its metadata, then
    ``spec_rule`` of the new spec."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    return errs + spec_rule(get_map(new, "spec"))


def validate_template_object_meta(meta: Any, path: str) -> list[FieldError]:
    """PVC templates: only labels and annotations may be set (``ValidateTemplateObjectMeta``)."""
    meta = as_map(meta)
    errs = validate_annotations(meta.get("annotations"), f"{path}.annotations")
    errs += validate_labels(meta.get("labels"), f"{path}.labels")
    for key in _TEMPLATE_META_FIELDS:
        if key not in _TEMPLATE_META_ALLOWED and meta.get(key) not in (None, "", 0, [], {}):
            errs.append(field_forbidden(f"{path}.{key}", "cannot be set"))
    return errs


def validate_label_selector(selector: Any, path: str, *,
                            allow_invalid_label_value: bool = False) -> list[FieldError]:
    """A ``metav1.LabelSelector`` (matchLabels + matchExpressions)."""
    if selector is None:
        return []
    sel = as_map(selector)
    errs = validate_labels(sel.get("matchLabels"), f"{path}.matchLabels")
    for i, raw in enumerate(get_list(sel, "matchExpressions")):
        errs += validate_label_selector_requirement(
            as_map(raw), f"{path}.matchExpressions[{i}]",
            allow_invalid_label_value=allow_invalid_label_value)
    return errs


def validate_label_selector_requirement(req: dict[str, Any], path: str, *,
                                        allow_invalid_label_value: bool = False,
                                        allow_gt_lt: bool = False) -> list[FieldError]:
    """One ``matchExpressions`` entry; ``allow_gt_lt`` also admits the single-valued
    ``Gt``/``Lt`` operators of node selectors."""
    errs: list[FieldError] = []
    operator = get_str(req, "operator")
    values = get_list(req, "values")
    if operator in ("In", "NotIn"):
        if not values:
            errs.append(required(f"{path}.values",
                                 "must be specified when `operator` is 'In' or 'NotIn'"))
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.append(field_forbidden(
                f"{path}.values", "may not be specified when `operator` is 'Exists' or "
                "'DoesNotExist'"))
    elif allow_gt_lt and operator in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(required(f"{path}.values",
                                 "must be specified single value when `operator` is 'Lt' or "
                                 "'Gt'"))
    else:
        errs.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))
    errs += validate_label_name(get_str(req, "key"), f"{path}.key")
    if not allow_invalid_label_value:
        for i, value in enumerate(values):
            text = value if isinstance(value, str) else ""
            errs += invalid_each(f"{path}.values[{i}]", text, is_label_value(text))
    return errs


def label_selector_convertible(selector: Any) -> bool:
    """Whether upstream's ``LabelSelectorAsSelector`` would accept the selector.

    The conversion builds one requirement per label and expression and fails on exactly
    what strict selector validation rejects (bad keys, values or operators, missing or
    extra values); a missing selector converts to "select nothing".
    """
    if selector is None:
        return True
    return isinstance(selector, dict) and not validate_label_selector(selector, "selector")


def label_selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector selects ``labels`` (an empty selector selects everything)."""
    sel = as_map(selector)
    for key, value in as_map(sel.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for raw in get_list(sel, "matchExpressions"):
        req = as_map(raw)
        key = get_str(req, "key")
        operator = get_str(req, "operator")
        values = [v for v in get_list(req, "values") if isinstance(v, str)]
        present = key in labels
        if operator == "In" and (not present or labels[key] not in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def label_selector_is_empty(selector: Any) -> bool:
    """True when a selector has neither matchLabels nor matchExpressions."""
    sel = as_map(selector)
    return not get_map(sel, "matchLabels") and not get_list(sel, "matchExpressions")


def validate_conditions(conditions: Any, path: str) -> list[FieldError]:
    """``metav1.Condition`` lists (status of many kinds)."""
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, raw in enumerate(as_list(conditions)):
        cond = as_map(raw)
        cond_path = f"{path}[{i}]"
        ctype = get_str(cond, "type")
        if ctype in seen:
            errs.append(duplicate(cond_path, ctype))
        seen.add(ctype)
        if not ctype:
            errs.append(required(f"{cond_path}.type", "is required"))
        else:
            errs += validate_label_name(ctype, f"{cond_path}.type")
        status = get_str(cond, "status")
        if not status:
            errs.append(required(f"{cond_path}.status", ""))
        elif status not in ("False", "True", "Unknown"):
            errs.append(not_supported(f"{cond_path}.status", status, ["False", "True", "Unknown"]))
        if not get_str(cond, "lastTransitionTime"):
            errs.append(required(f"{cond_path}.lastTransitionTime", ""))
        if not get_str(cond, "reason"):
            errs.append(required(f"{cond_path}.reason", ""))
    return errs


def validate_domain_prefixed_path(value: str, path: str) -> list[FieldError]:
    """``acme.io/foo``: a DNS-subdomain host, then an HTTP path (``IsDomainPrefixedPath``)."""
    if not value:
        return [required(path, "")]
    host, sep, rest = value.partition("/")
    if not sep or not host or not rest:
        return [invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs = invalid_each(path, host, is_dns1123_subdomain(host))
    if not _HTTP_PATH.fullmatch(rest):
        errs.append(invalid(path, rest, "Invalid path (regex used for validation is "
                                        "'[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')"))
    return errs
