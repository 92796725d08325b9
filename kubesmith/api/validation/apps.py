"""Validation of ``apps/v1``: Deployment, ReplicaSet, StatefulSet, DaemonSet and
ControllerRevision (``pkg/apis/apps/validation`` plus the selector-immutability rule the
apps strategies add for every v1 update).
"""

from __future__ import annotations

import re
from typing import Any

from kubesmith.api.errors import (
    FieldError,
    field_forbidden,
    invalid,
    not_supported,
    required,
)
from kubesmith.api.validation._fields import (
    FIELD_IMMUTABLE,
    as_map,
    get_int,
    get_int0,
    get_map,
    has,
    immutable,
    int_or_string,
    invalid_each,
    nonnegative,
    str_map,
)
from kubesmith.api.validation.core import validate_replica_counts
from kubesmith.api.validation.meta import (
    label_selector_convertible,
    label_selector_is_empty,
    label_selector_matches,
    validate_annotations,
    validate_label_selector,
    validate_labels,
    validate_meta_and_spec,
    validate_meta_and_spec_update,
    validate_object_meta,
    validate_object_meta_update,
)
from kubesmith.api.validation.names import (
    is_valid_percent,
    name_is_dns_label,
    name_is_dns_subdomain,
)
from kubesmith.api.validation.pod import validate_pod_template_spec

_PERCENT = re.compile(r"[0-9]+%")


# ---------------------------------------------------------------------------- helpers


def validate_positive_int_or_percent(value: Any, path: str) -> list[FieldError]:
    """A non-negative integer or a ``N%`` string (``ValidatePositiveIntOrPercent``)."""
    parsed = int_or_string(value)
    if isinstance(parsed, str):
        return invalid_each(path, parsed, is_valid_percent(parsed))
    if isinstance(parsed, int):
        return nonnegative(parsed, path)
    return [invalid(path, value, "must be an integer or percentage (e.g '5%%')")]


def _percent(value: Any) -> int | None:
    parsed = int_or_string(value)
    if isinstance(parsed, str) and _PERCENT.fullmatch(parsed):
        return int(parsed[:-1])
    return None


def int_or_percent_value(value: Any) -> int:
    """The number in ``N%`` or the integer itself (0 for anything else)."""
    percent = _percent(value)
    if percent is not None:
        return percent
    parsed = int_or_string(value)
    if isinstance(parsed, int):
        return parsed
    # Go's IntOrString.IntValue() parses a non-percent string with Atoi, else 0.
    if isinstance(parsed, str) and re.fullmatch(r"[+-]?[0-9]+", parsed):
        return int(parsed)
    return 0


def not_more_than_100_percent(value: Any, path: str) -> list[FieldError]:
    """A percentage may not exceed 100%."""
    percent = _percent(value)
    if percent is None or percent <= 100:
        return []
    return [invalid(path, int_or_string(value), "must not be greater than 100%")]


def _template_labels(spec: dict[str, Any]) -> dict[str, str]:
    return str_map(get_map(get_map(spec.get("template"), "metadata"), "labels"))


def _validate_selector(spec: dict[str, Any], path: str, kind: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if spec.get("selector") is None:
        errs.append(required(f"{path}.selector", ""))
    else:
        errs += validate_label_selector(spec.get("selector"), f"{path}.selector")
        if label_selector_is_empty(spec.get("selector")):
            errs.append(invalid(f"{path}.selector", spec.get("selector"),
                                f"empty selector is invalid for {kind}"))
    return errs


def _template_for_replicas(spec: dict[str, Any], path: str) -> list[FieldError]:
    """``ValidatePodTemplateSpecForReplicaSet`` (Deployments and ReplicaSets).

    Upstream converts the selector first; when that fails it reports the selector and
    skips the template entirely.
    """
    if not label_selector_convertible(spec.get("selector")):
        return [invalid(f"{path}.selector", spec.get("selector"), "invalid label selector")]
    errs: list[FieldError] = []
    # The template is a struct, not a pointer, upstream: a missing one validates as empty.
    template = get_map(spec, "template")
    template_path = f"{path}.template"
    if _selector_mismatch(spec.get("selector"), _template_labels(spec)):
        errs.append(invalid(f"{template_path}.metadata.labels", _template_labels(spec),
                            "`selector` does not match template `labels`"))
    errs += validate_pod_template_spec(template, template_path)
    pod_spec = get_map(template, "spec")
    restart = pod_spec.get("restartPolicy", "")
    if restart != "Always":
        errs.append(not_supported(f"{template_path}.spec.restartPolicy", restart, ["Always"]))
    if has(pod_spec, "activeDeadlineSeconds"):
        # Upstream's shared helper says "ReplicaSet" for Deployments too.
        errs.append(field_forbidden(f"{template_path}.spec.activeDeadlineSeconds",
                                    "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return errs


def _selector_mismatch(selector: Any, labels: dict[str, str]) -> bool:
    """Upstream's check: a nil selector selects nothing, an empty one is skipped."""
    if selector is None:
        return True
    return not label_selector_is_empty(selector) and not label_selector_matches(selector, labels)


def _selector_immutable(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    # apps/v1 strategies forbid selector changes on update (only the long-gone beta
    # versions allowed them).
    new_selector = get_map(new, "spec").get("selector")
    old_selector = get_map(old, "spec").get("selector")
    if new_selector != old_selector:
        return [invalid("spec.selector", new_selector, FIELD_IMMUTABLE)]
    return []


# ---------------------------------------------------------------------------- Deployment


def _deployment_strategy(strategy: dict[str, Any], path: str) -> list[FieldError]:
    kind = strategy.get("type", "")
    if kind == "Recreate":
        if has(strategy, "rollingUpdate"):
            return [field_forbidden(f"{path}.rollingUpdate",
                                    "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if kind == "RollingUpdate":
        if not has(strategy, "rollingUpdate"):
            return [required(f"{path}.rollingUpdate", "this should be defaulted and never be nil")]
        rolling = get_map(strategy, "rollingUpdate")
        rpath = f"{path}.rollingUpdate"
        errs = validate_positive_int_or_percent(rolling.get("maxUnavailable"),
                                                f"{rpath}.maxUnavailable")
        errs += validate_positive_int_or_percent(rolling.get("maxSurge"), f"{rpath}.maxSurge")
        if int_or_percent_value(rolling.get("maxUnavailable")) == 0 and \
                int_or_percent_value(rolling.get("maxSurge")) == 0:
            errs.append(invalid(f"{rpath}.maxUnavailable",
                                int_or_string(rolling.get("maxUnavailable")),
                                "may not be 0 when `maxSurge` is 0"))
        errs += not_more_than_100_percent(rolling.get("maxUnavailable"), f"{rpath}.maxUnavailable")
        return errs
    return [not_supported(path, strategy, ["Recreate", "RollingUpdate"])]


def _deployment_spec(spec: dict[str, Any]) -> list[FieldError]:
    errs = nonnegative(get_int0(spec, "replicas"), "spec.replicas")
    errs += _validate_selector(spec, "spec", "deployment")
    errs += _template_for_replicas(spec, "spec")
    errs += _deployment_strategy(get_map(spec, "strategy"), "spec.strategy")
    errs += nonnegative(get_int0(spec, "minReadySeconds"), "spec.minReadySeconds")
    errs += nonnegative(get_int(spec, "revisionHistoryLimit"), "spec.revisionHistoryLimit")
    if has(spec, "rollbackTo"):
        errs += nonnegative(get_int0(get_map(spec, "rollbackTo"), "revision"),
                            "spec.rollback.version")
    deadline = get_int(spec, "progressDeadlineSeconds")
    if deadline is not None:
        errs += nonnegative(deadline, "spec.progressDeadlineSeconds")
        if deadline <= get_int0(spec, "minReadySeconds"):
            errs.append(invalid("spec.progressDeadlineSeconds", deadline,
                                "must be greater than minReadySeconds"))
    return errs


def validate_deployment(obj: Any) -> list[FieldError]:
    """Upstream ``ValidateDeployment``."""
    return validate_meta_and_spec(obj, _deployment_spec, namespaced=True,
                                  name_rule=name_is_dns_subdomain)


def validate_deployment_update(new: Any, old: Any) -> list[FieldError]:
    """Metadata rules, the new spec, and an immutable selector."""
    new, old = as_map(new), as_map(old)
    return (validate_meta_and_spec_update(new, old, _deployment_spec)
            + _selector_immutable(new, old))


def _collision_count(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    new_count = get_int(get_map(new, "status"), "collisionCount")
    old_count = get_int(get_map(old, "status"), "collisionCount")
    if old_count is not None and (new_count is None or new_count < old_count):
        return [invalid("status.collisionCount", new_count or 0, "cannot be decremented")]
    return []


def validate_deployment_status_update(new: Any, old: Any) -> list[FieldError]:
    """Non-negative, consistent counters; collisionCount never decreases."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    status = get_map(new, "status")
    for key in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                "availableReplicas", "unavailableReplicas", "collisionCount"):
        errs += nonnegative(get_int(status, key), f"status.{key}")
    replicas = get_int0(status, "replicas")
    message = "cannot be greater than status.replicas"
    for key in ("updatedReplicas", "readyReplicas", "availableReplicas"):
        if get_int0(status, key) > replicas:
            errs.append(invalid(f"status.{key}", get_int0(status, key), message))
    if get_int0(status, "availableReplicas") > get_int0(status, "readyReplicas"):
        errs.append(invalid("status.availableReplicas", get_int0(status, "availableReplicas"),
                            "cannot be greater than readyReplicas"))
    return errs + _collision_count(new, old)


# ---------------------------------------------------------------------------- ReplicaSet


def _replica_set_spec(spec: dict[str, Any]) -> list[FieldError]:
    errs = nonnegative(get_int0(spec, "replicas"), "spec.replicas")
    errs += nonnegative(get_int0(spec, "minReadySeconds"), "spec.minReadySeconds")
    # Upstream reuses the Deployment wording here.
    errs += _validate_selector(spec, "spec", "deployment")
    errs += _template_for_replicas(spec, "spec")
    return errs


def validate_replica_set(obj: Any) -> list[FieldError]:
    """Upstream ``ValidateReplicaSet``."""
    return validate_meta_and_spec(obj, _replica_set_spec, namespaced=True,
                                  name_rule=name_is_dns_subdomain)


def validate_replica_set_update(new: Any, old: Any) -> list[FieldError]:
    """Metadata rules, the new spec, and an immutable selector."""
    new, old = as_map(new), as_map(old)
    return (validate_meta_and_spec_update(new, old, _replica_set_spec)
            + _selector_immutable(new, old))


def validate_replica_set_status_update(new: Any, old: Any) -> list[FieldError]:
    """The ReplicaSet status invariants."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    return errs + validate_replica_counts(get_map(new, "status"), "status")


# ---------------------------------------------------------------------------- StatefulSet


def _stateful_set_spec(spec: dict[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    policy = spec.get("podManagementPolicy", "")
    if not policy:
        errs.append(required("spec.podManagementPolicy", ""))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", policy,
                            "must be 'OrderedReady' or 'Parallel'"))
    strategy = get_map(spec, "updateStrategy")
    kind = strategy.get("type", "")
    if not kind:
        errs.append(required("spec.updateStrategy", ""))
    elif kind == "OnDelete":
        if has(strategy, "rollingUpdate"):
            errs.append(invalid("spec.updateStrategy.rollingUpdate", strategy.get("rollingUpdate"),
                                "only allowed for updateStrategy 'RollingUpdate'"))
    elif kind == "RollingUpdate":
        if has(strategy, "rollingUpdate"):
            rolling = get_map(strategy, "rollingUpdate")
            rpath = "spec.updateStrategy.rollingUpdate"
            errs += nonnegative(get_int0(rolling, "partition"), f"{rpath}.partition")
            if has(rolling, "maxUnavailable"):
                value = rolling.get("maxUnavailable")
                errs += validate_positive_int_or_percent(value, f"{rpath}.maxUnavailable")
                if int_or_percent_value(value) == 0:
                    errs.append(invalid(f"{rpath}.maxUnavailable", int_or_string(value),
                                        "cannot be 0"))
                errs += not_more_than_100_percent(value, f"{rpath}.maxUnavailable")
    else:
        errs.append(invalid("spec.updateStrategy", strategy,
                            "must be 'RollingUpdate' or 'OnDelete'"))
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        for key in ("whenDeleted", "whenScaled"):
            value = as_map(retention).get(key, "")
            if value not in ("Retain", "Delete"):
                errs.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}",
                                          value, ["Retain", "Delete"]))
    errs += nonnegative(get_int0(spec, "replicas"), "spec.replicas")
    errs += nonnegative(get_int0(spec, "minReadySeconds"), "spec.minReadySeconds")
    if has(spec, "ordinals"):
        errs += nonnegative(get_int0(get_map(spec, "ordinals"), "start"), "spec.ordinals.start")
    errs += _validate_selector(spec, "spec", "statefulset")
    template = get_map(spec, "template")
    labels = _template_labels(spec)
    if not label_selector_convertible(spec.get("selector")):
        errs.append(invalid("spec.selector", spec.get("selector"), ""))
    else:
        if _selector_mismatch(spec.get("selector"), labels):
            errs.append(invalid("spec.template.metadata.labels", labels,
                                "`selector` does not match template `labels`"))
        # Upstream deliberately skips pod spec validation for StatefulSet templates (the
        # volumes could come from volumeClaimTemplates); only metadata is checked.
        meta = get_map(template, "metadata")
        errs += validate_labels(meta.get("labels"), "spec.template.labels")
        errs += validate_annotations(meta.get("annotations"), "spec.template.annotations")
    pod_spec = get_map(template, "spec")
    restart = pod_spec.get("restartPolicy", "")
    if restart != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    if has(pod_spec, "activeDeadlineSeconds"):
        errs.append(field_forbidden("spec.template.spec.activeDeadlineSeconds",
                                    "activeDeadlineSeconds in StatefulSet is not Supported"))
    return errs


def validate_stateful_set(obj: Any) -> list[FieldError]:
    """Upstream ``ValidateStatefulSet`` (names are DNS labels: pods append ``-N``)."""
    return validate_meta_and_spec(obj, _stateful_set_spec, namespaced=True,
                                  name_rule=name_is_dns_label)


_STATEFUL_SET_MUTABLE = ("replicas", "template", "updateStrategy", "minReadySeconds",
                         "ordinals", "persistentVolumeClaimRetentionPolicy")


def validate_stateful_set_update(new: Any, old: Any) -> list[FieldError]:
    """Only replicas, ordinals, template, updateStrategy, retention and minReadySeconds change."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += _stateful_set_spec(get_map(new, "spec"))
    new_rest = {k: v for k, v in get_map(new, "spec").items() if k not in _STATEFUL_SET_MUTABLE}
    old_rest = {k: v for k, v in get_map(old, "spec").items() if k not in _STATEFUL_SET_MUTABLE}
    if new_rest != old_rest:
        errs.append(field_forbidden("spec", "updates to statefulset spec for fields other than "
                                            "'replicas', 'ordinals', 'template', "
                                            "'updateStrategy', "
                                            "'persistentVolumeClaimRetentionPolicy' and "
                                            "'minReadySeconds' are forbidden"))
    return errs


def validate_stateful_set_status_update(new: Any, old: Any) -> list[FieldError]:
    """StatefulSet status invariants; collisionCount never decreases."""
    new, old = as_map(new), as_map(old)
    status = get_map(new, "status")
    errs: list[FieldError] = []
    for key in ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas",
                "availableReplicas", "observedGeneration", "collisionCount"):
        errs += nonnegative(get_int(status, key), f"status.{key}")
    replicas = get_int0(status, "replicas")
    message = "cannot be greater than status.replicas"
    for key in ("readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"):
        if get_int0(status, key) > replicas:
            errs.append(invalid(f"status.{key}", get_int0(status, key), message))
    if get_int0(status, "availableReplicas") > get_int0(status, "readyReplicas"):
        errs.append(invalid("status.availableReplicas", get_int0(status, "availableReplicas"),
                            "cannot be greater than status.readyReplicas"))
    errs += validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    return errs + _collision_count(new, old)


# ---------------------------------------------------------------------------- DaemonSet


def _daemon_set_spec(spec: dict[str, Any]) -> list[FieldError]:
    errs = validate_label_selector(spec.get("selector"), "spec.selector")
    selector = spec.get("selector")
    labels = _template_labels(spec)
    if label_selector_convertible(selector) and (
            selector is None or not label_selector_matches(selector, labels)):
        errs.append(invalid("spec.template.metadata.labels", labels,
                            "`selector` does not match template `labels`"))
    if selector is not None and label_selector_is_empty(selector):
        errs.append(invalid("spec.selector", selector, "empty selector is invalid for daemonset"))
    errs += validate_pod_template_spec(spec.get("template"), "spec.template")
    pod_spec = get_map(get_map(spec, "template"), "spec")
    restart = pod_spec.get("restartPolicy", "")
    if restart != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    if has(pod_spec, "activeDeadlineSeconds"):
        errs.append(field_forbidden("spec.template.spec.activeDeadlineSeconds",
                                    "activeDeadlineSeconds in DaemonSet is not Supported"))
    errs += nonnegative(get_int0(spec, "minReadySeconds"), "spec.minReadySeconds")
    errs += nonnegative(get_int0(spec, "templateGeneration"), "spec.templateGeneration")
    errs += _daemon_set_strategy(get_map(spec, "updateStrategy"), "spec.updateStrategy")
    errs += nonnegative(get_int(spec, "revisionHistoryLimit"), "spec.revisionHistoryLimit")
    return errs


def _daemon_set_strategy(strategy: dict[str, Any], path: str) -> list[FieldError]:
    kind = strategy.get("type", "")
    if kind == "OnDelete":
        return []
    if kind != "RollingUpdate":
        return [not_supported(path, strategy, ["RollingUpdate", "OnDelete"])]
    if not has(strategy, "rollingUpdate"):
        return [required(f"{path}.rollingUpdate", "")]
    rolling = get_map(strategy, "rollingUpdate")
    rpath = f"{path}.rollingUpdate"
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    errs = validate_positive_int_or_percent(unavailable, f"{rpath}.maxUnavailable")
    errs += validate_positive_int_or_percent(surge, f"{rpath}.maxSurge")
    errs += not_more_than_100_percent(unavailable, f"{rpath}.maxUnavailable")
    errs += not_more_than_100_percent(surge, f"{rpath}.maxSurge")
    has_unavailable = int_or_percent_value(unavailable) != 0
    has_surge = int_or_percent_value(surge) != 0
    if has_unavailable and has_surge:
        errs.append(invalid(f"{rpath}.maxSurge", int_or_string(surge),
                            "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errs.append(required(f"{rpath}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return errs


def validate_daemon_set(obj: Any) -> list[FieldError]:
    """Upstream ``ValidateDaemonSet``."""
    return validate_meta_and_spec(obj, _daemon_set_spec, namespaced=True,
                                  name_rule=name_is_dns_subdomain)


def validate_daemon_set_update(new: Any, old: Any) -> list[FieldError]:
    """templateGeneration moves with the template; the selector is immutable."""
    new, old = as_map(new), as_map(old)
    spec, old_spec = get_map(new, "spec"), get_map(old, "spec")
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    # templateGeneration is internal upstream (apps/v1 never carries it); kept for
    # clients that set it, skipped when neither side has one.
    new_gen = get_int0(spec, "templateGeneration")
    old_gen = get_int0(old_spec, "templateGeneration")
    if new_gen < old_gen:
        errs.append(invalid("spec.templateGeneration", new_gen, "must not be decremented"))
    changed = spec.get("template") != old_spec.get("template")
    if new_gen == old_gen and changed and (new_gen or old_gen):
        errs.append(invalid("spec.templateGeneration", new_gen,
                            "must be incremented upon template update"))
    elif new_gen > old_gen and not changed:
        errs.append(invalid("spec.templateGeneration", new_gen,
                            "must not be incremented without template update"))
    errs += _daemon_set_spec(spec)
    return errs + _selector_immutable(new, old)


def validate_daemon_set_status_update(new: Any, old: Any) -> list[FieldError]:
    """Non-negative counters; collisionCount never decreases."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    status = get_map(new, "status")
    for key in ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
                "numberReady", "observedGeneration", "updatedNumberScheduled",
                "numberAvailable", "numberUnavailable", "collisionCount"):
        errs += nonnegative(get_int(status, key), f"status.{key}")
    return errs + _collision_count(new, old)


# ---------------------------------------------------------------------------- ControllerRevision


def validate_controller_revision(obj: Any) -> list[FieldError]:
    """Data is mandatory; revision non-negative."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns_subdomain)
    if obj.get("data") is None:
        errs.append(required("data", "data is mandatory"))
    errs += nonnegative(get_int0(obj, "revision"), "revision")
    return errs


def validate_controller_revision_update(new: Any, old: Any) -> list[FieldError]:
    """Data never changes."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += validate_controller_revision(new)
    errs += immutable(new.get("data"), old.get("data"), "data")
    return errs
