"""Validation of ``batch/v1`` Job and CronJob (``pkg/apis/batch/validation``).

Jobs are validated after the Job strategy has generated the selector and the
``controller-uid``/``job-name`` template labels (see
:func:`kubesmith.api.defaults.workloads.generate_job_selector`), exactly as upstream's
``ValidateJob`` expects.
"""

from __future__ import annotations

import re
from typing import Any

from kubesmith.api.errors import (
    FieldError,
    duplicate,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
)
from kubesmith.api.validation._fields import (
    as_map,
    get_int,
    get_list,
    get_map,
    get_maps,
    get_str,
    has,
    immutable,
    invalid_each,
    key_path,
    nonnegative,
    str_map,
)
from kubesmith.api.validation.cron import CronError, load_location, parse_standard
from kubesmith.api.validation.meta import (
    label_selector_convertible,
    label_selector_matches,
    validate_domain_prefixed_path,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)
from kubesmith.api.validation.names import (
    is_dns1123_label,
    is_qualified_name,
    name_is_dns_subdomain,
)
from kubesmith.api.validation.pod import validate_pod_template_spec

LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"

MAX_PARALLELISM_FOR_INDEXED_JOB = 100_000
MAX_FAILED_INDEXES = 100_000
COMPLETIONS_SOFT_LIMIT = 100_000
PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS = 10_000
MAX_FAILED_INDEXES_FOR_HIGH_COMPLETIONS = 10_000
MAX_POD_FAILURE_POLICY_RULES = 20
MAX_EXIT_CODE_VALUES = 255
MAX_POD_CONDITION_PATTERNS = 20
MAX_MANAGED_BY_LENGTH = 63
MAX_SUCCEEDED_INDEXES_LENGTH = 64 * 1024
MAX_SUCCESS_POLICY_RULES = 20
FAILURE_ACTIONS = ["Count", "FailIndex", "FailJob", "Ignore"]
_TIME_ZONE_PART = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")


def _has_label(meta: dict[str, Any], path: str, key: str, expected: str) -> list[FieldError]:
    labels = str_map(meta.get("labels"))
    label_path = key_path(f"{path}.labels", key)
    if key not in labels:
        return [required(label_path, f"must be '{expected}'")]
    if labels[key] != expected:
        return [invalid(label_path, labels, f"must be '{expected}'")]
    return []


def _generated_selector(job: dict[str, Any], require_prefixed: bool) -> list[FieldError]:
    spec = get_map(job, "spec")
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    meta = get_map(job, "metadata")
    uid, name = get_str(meta, "uid"), get_str(meta, "name")
    errs: list[FieldError] = []
    if not uid:
        errs.append(required("metadata.uid", ""))
    template_meta = get_map(get_map(spec, "template"), "metadata")
    path = "spec.template.metadata"
    errs += _has_label(template_meta, path, LEGACY_CONTROLLER_UID_LABEL, uid)
    errs += _has_label(template_meta, path, LEGACY_JOB_NAME_LABEL, name)
    expected = {LEGACY_CONTROLLER_UID_LABEL: uid, LEGACY_JOB_NAME_LABEL: name}
    if require_prefixed:
        errs += _has_label(template_meta, path, CONTROLLER_UID_LABEL, uid)
        errs += _has_label(template_meta, path, JOB_NAME_LABEL, name)
        expected.update({CONTROLLER_UID_LABEL: uid, JOB_NAME_LABEL: name})
    if label_selector_convertible(spec.get("selector")) and \
            not label_selector_matches(spec.get("selector"), expected):
        errs.append(invalid("spec.selector", spec.get("selector"), "`selector` not auto-generated"))
    return errs


def _parse_interval(interval: str, completions: int) -> tuple[int, int]:
    parts = interval.split("-")
    if len(parts) > 2:
        raise ValueError(f"the fragment {interval!r} violates the requirement that an "
                         "index interval can have at most two parts separated by '-'")
    try:
        low = int(parts[0])
    except ValueError:
        raise ValueError(f'cannot convert string to integer for index: "{parts[0]}"') from None
    high = low
    if len(parts) == 2:
        try:
            high = int(parts[1])
        except ValueError:
            raise ValueError(f'cannot convert string to integer for index: "{parts[1]}"') \
                from None
    if high >= completions:
        raise ValueError(f"too large index: {high}")
    if low < 0:
        raise ValueError(f"index must be non-negative: {low}")
    if high < low:
        raise ValueError(f"non-increasing order, previous: {high}, current: {low}")
    return low, high


def _indexes_count(text: str, completions: int) -> int:
    """Number of indexes in ``"1,3-5"``; ValueError with upstream's wording if malformed."""
    if not text:
        return 0
    total = 0
    previous = -1
    for interval in text.split(","):
        low, high = _parse_interval(interval, completions)
        if low <= previous:
            raise ValueError(f"non-increasing order, previous: {previous}, current: {low}")
        total += high - low + 1
        previous = high
    return total


def _pod_failure_policy(spec: dict[str, Any], path: str) -> list[FieldError]:
    policy = get_map(spec, "podFailurePolicy")
    rules = get_maps(policy, "rules")
    rules_path = f"{path}.rules"
    errs: list[FieldError] = []
    if len(rules) > MAX_POD_FAILURE_POLICY_RULES:
        errs.append(too_many(rules_path, len(rules), MAX_POD_FAILURE_POLICY_RULES))
    pod_spec = get_map(get_map(spec, "template"), "spec")
    containers = {get_str(c, "name") for key in ("containers", "initContainers")
                  for c in get_maps(pod_spec, key)}
    for i, rule in enumerate(rules):
        rule_path = f"{rules_path}[{i}]"
        action = get_str(rule, "action")
        if not action:
            errs.append(required(f"{rule_path}.action",
                                 "valid values: [" + " ".join(f'"{a}"' for a in FAILURE_ACTIONS)
                                 + "]"))
        elif action == "FailIndex":
            if spec.get("backoffLimitPerIndex") is None:
                errs.append(invalid(f"{rule_path}.action", action,
                                    "requires the backoffLimitPerIndex to be set"))
        elif action not in FAILURE_ACTIONS:
            errs.append(not_supported(f"{rule_path}.action", action, FAILURE_ACTIONS))
        on_exit = rule.get("onExitCodes")
        patterns = get_maps(rule, "onPodConditions")
        if on_exit is not None:
            errs += _on_exit_codes(as_map(on_exit), f"{rule_path}.onExitCodes", containers)
        if patterns:
            errs += _on_pod_conditions(patterns, f"{rule_path}.onPodConditions")
        if on_exit is not None and patterns:
            errs.append(FieldError("FieldValueInvalid", rule_path,
                                   "specifying both OnExitCodes and OnPodConditions is not "
                                   "supported"))
        if on_exit is None and not patterns:
            errs.append(FieldError("FieldValueInvalid", rule_path,
                                   "specifying one of OnExitCodes and OnPodConditions is "
                                   "required"))
    return errs


def _on_exit_codes(req: dict[str, Any], path: str, containers: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    operator = get_str(req, "operator")
    if not operator:
        errs.append(required(f"{path}.operator", 'valid values: ["In" "NotIn"]'))
    elif operator not in ("In", "NotIn"):
        errs.append(not_supported(f"{path}.operator", operator, ["In", "NotIn"]))
    if has(req, "containerName") and get_str(req, "containerName") not in containers:
        errs.append(invalid(f"{path}.containerName", get_str(req, "containerName"),
                            "must be one of the container or initContainer names in the pod "
                            "template"))
    values = [v for v in get_list(req, "values") if isinstance(v, int)]
    if not values:
        errs.append(invalid(f"{path}.values", values, "at least one value is required"))
    elif len(values) > MAX_EXIT_CODE_VALUES:
        errs.append(too_many(f"{path}.values", len(values), MAX_EXIT_CODE_VALUES))
    seen: set[int] = set()
    for j, value in enumerate(values):
        value_path = f"{path}.values[{j}]"
        if operator == "In" and value == 0:
            errs.append(invalid(value_path, value, "must not be 0 for the In operator"))
        if value in seen:
            errs.append(duplicate(value_path, value))
        seen.add(value)
    if any(values[j - 1] > values[j] for j in range(1, len(values))):
        errs.append(invalid(f"{path}.values", values, "must be ordered"))
    return errs


def _on_pod_conditions(patterns: list[dict[str, Any]], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if len(patterns) > MAX_POD_CONDITION_PATTERNS:
        errs.append(too_many(path, len(patterns), MAX_POD_CONDITION_PATTERNS))
    for j, pattern in enumerate(patterns):
        pattern_path = f"{path}[{j}]"
        ctype = get_str(pattern, "type")
        errs += invalid_each(f"{pattern_path}.type", ctype, is_qualified_name(ctype))
        status = get_str(pattern, "status")
        if not status:
            errs.append(required(f"{pattern_path}.status",
                                 'valid values: ["False" "True" "Unknown"]'))
        elif status not in ("False", "True", "Unknown"):
            errs.append(not_supported(f"{pattern_path}.status", status,
                                      ["False", "True", "Unknown"]))
    return errs


def _success_policy(spec: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    rules = get_maps(get_map(spec, "successPolicy"), "rules")
    rules_path = f"{path}.rules"
    if not rules:
        errs.append(required(rules_path, "at least one rules must be specified when the "
                                         "successPolicy is specified"))
    if len(rules) > MAX_SUCCESS_POLICY_RULES:
        errs.append(too_many(rules_path, len(rules), MAX_SUCCESS_POLICY_RULES))
    completions = get_int(spec, "completions") or 0
    for i, rule in enumerate(rules):
        rule_path = f"{rules_path}[{i}]"
        if not has(rule, "succeededCount") and not has(rule, "succeededIndexes"):
            errs.append(required(rule_path, "at least one of succeededCount or succeededIndexes "
                                            "must be specified"))
        total = 0
        if has(rule, "succeededIndexes"):
            indexes = get_str(rule, "succeededIndexes")
            if len(indexes) > MAX_SUCCEEDED_INDEXES_LENGTH:
                errs.append(too_long(f"{rule_path}.succeededIndexes", indexes,
                                     MAX_SUCCEEDED_INDEXES_LENGTH))
            try:
                total = _indexes_count(indexes, completions)
            except ValueError as exc:
                errs.append(invalid(f"{rule_path}.succeededIndexes", indexes,
                                    f"error parsing succeededIndexes: {exc}"))
        count = get_int(rule, "succeededCount")
        if count is not None:
            count_path = f"{rule_path}.succeededCount"
            errs += nonnegative(count, count_path)
            if count > completions:
                errs.append(invalid(count_path, count,
                                    f"must be less than or equal to {completions} (the number "
                                    "of specified completions)"))
            if has(rule, "succeededIndexes") and count > total:
                errs.append(invalid(count_path, count,
                                    f"must be less than or equal to {total} (the number of "
                                    "indexes in the specified succeededIndexes field)"))
    return errs


def _job_spec_common(spec: dict[str, Any], path: str) -> list[FieldError]:
    """Upstream's ``validateJobSpec`` (shared by Jobs and CronJob job templates)."""
    errs: list[FieldError] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                "ttlSecondsAfterFinished", "backoffLimitPerIndex", "maxFailedIndexes"):
        errs += nonnegative(get_int(spec, key), f"{path}.{key}")
        if key == "maxFailedIndexes" and has(spec, key) and not has(spec, "backoffLimitPerIndex"):
            errs.append(required(f"{path}.backoffLimitPerIndex", "when maxFailedIndexes is "
                                                                 "specified"))
    if has(spec, "managedBy"):
        managed_by = get_str(spec, "managedBy")
        errs += validate_domain_prefixed_path(managed_by, f"{path}.managedBy")
        if len(managed_by) > MAX_MANAGED_BY_LENGTH:
            errs.append(too_long(f"{path}.managedBy", managed_by, MAX_MANAGED_BY_LENGTH))
    mode = spec.get("completionMode")
    completions = get_int(spec, "completions")
    parallelism = get_int(spec, "parallelism")
    max_failed = get_int(spec, "maxFailedIndexes")
    if mode is not None:
        if mode not in ("NonIndexed", "Indexed"):
            errs.append(not_supported(f"{path}.completionMode", mode, ["NonIndexed", "Indexed"]))
        if mode == "Indexed":
            if completions is None:
                errs.append(required(f"{path}.completions", "when completion mode is Indexed"))
            if parallelism is not None and parallelism > MAX_PARALLELISM_FOR_INDEXED_JOB:
                errs.append(invalid(f"{path}.parallelism", parallelism,
                                    f"must be less than or equal to "
                                    f"{MAX_PARALLELISM_FOR_INDEXED_JOB} when completion mode is "
                                    "Indexed"))
            if completions is not None and max_failed is not None and max_failed > completions:
                errs.append(invalid(f"{path}.maxFailedIndexes", max_failed,
                                    "must be less than or equal to completions"))
            if max_failed is not None and max_failed > MAX_FAILED_INDEXES:
                errs.append(invalid(f"{path}.maxFailedIndexes", max_failed,
                                    f"must be less than or equal to {MAX_FAILED_INDEXES}"))
            if completions is not None and completions > COMPLETIONS_SOFT_LIMIT and \
                    has(spec, "backoffLimitPerIndex"):
                errs += _high_completions(spec, path, parallelism, max_failed)
    if mode in (None, "NonIndexed"):
        for key in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if has(spec, key):
                errs.append(invalid(f"{path}.{key}", spec.get(key),
                                    "requires indexed completion mode"))
    if has(spec, "podFailurePolicy"):
        errs += _pod_failure_policy(spec, f"{path}.podFailurePolicy")
    if has(spec, "successPolicy"):
        if mode != "Indexed":
            errs.append(invalid(f"{path}.successPolicy", spec.get("successPolicy"),
                                "requires indexed completion mode"))
        else:
            errs += _success_policy(spec, f"{path}.successPolicy")
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None:
        if has(spec, "podFailurePolicy"):
            if replacement != "Failed":
                errs.append(not_supported(f"{path}.podReplacementPolicy", replacement,
                                          ["Failed"]))
        elif replacement not in ("Failed", "TerminatingOrFailed"):
            errs.append(not_supported(f"{path}.podReplacementPolicy", replacement,
                                      ["Failed", "TerminatingOrFailed"]))
    errs += validate_pod_template_spec(spec.get("template"), f"{path}.template")
    restart = get_str(get_map(get_map(spec, "template"), "spec"), "restartPolicy")
    restart_path = f"{path}.template.spec.restartPolicy"
    if restart in ("Always", ""):
        errs.append(required(restart_path, 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        errs.append(not_supported(restart_path, restart, ["OnFailure", "Never"]))
    elif has(spec, "podFailurePolicy") and restart != "Never":
        errs.append(invalid(restart_path, restart,
                            'only "Never" is supported when podFailurePolicy is specified'))
    return errs


def _high_completions(spec: dict[str, Any], path: str, parallelism: int | None,
                      max_failed: int | None) -> list[FieldError]:
    errs: list[FieldError] = []
    suffix = (f"when completions are above {COMPLETIONS_SOFT_LIMIT} and used with backoff "
              "limit per index")
    if max_failed is None:
        errs.append(required(f"{path}.maxFailedIndexes",
                             f"must be specified when completions is above "
                             f"{COMPLETIONS_SOFT_LIMIT}"))
    if parallelism is not None and parallelism > PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS:
        errs.append(invalid(f"{path}.parallelism", parallelism,
                            f"must be less than or equal to "
                            f"{PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS} {suffix}"))
    if max_failed is not None and max_failed > MAX_FAILED_INDEXES_FOR_HIGH_COMPLETIONS:
        errs.append(invalid(f"{path}.maxFailedIndexes", max_failed,
                            f"must be less than or equal to "
                            f"{MAX_FAILED_INDEXES_FOR_HIGH_COMPLETIONS} {suffix}"))
    return errs


def _job_spec(spec: dict[str, Any], path: str) -> list[FieldError]:
    errs = _job_spec_common(spec, path)
    selector = spec.get("selector")
    if selector is None:
        errs.append(required(f"{path}.selector", ""))
    else:
        errs += validate_label_selector(selector, f"{path}.selector")
    labels = str_map(get_map(get_map(spec.get("template"), "metadata"), "labels"))
    # Only a selector that converts is compared (a missing one selects nothing).
    if label_selector_convertible(selector) and (
            selector is None or not label_selector_matches(selector, labels)):
        errs.append(invalid(f"{path}.template.metadata.labels", labels,
                            "`selector` does not match template `labels`"))
    return errs


def validate_job(obj: Any, *, require_prefixed_labels: bool = True) -> list[FieldError]:
    """Upstream ``ValidateJob`` (after selector generation)."""
    obj = as_map(obj)
    meta = get_map(obj, "metadata")
    errs = validate_object_meta(meta, namespaced=True, name_rule=name_is_dns_subdomain)
    errs += _generated_selector(obj, require_prefixed_labels)
    spec = get_map(obj, "spec")
    errs += _job_spec(spec, "spec")
    completions = get_int(spec, "completions")
    if spec.get("completionMode") == "Indexed" and completions is not None and completions > 0:
        hostname = f"{get_str(meta, 'name')}-{completions - 1}"
        if is_dns1123_label(hostname):
            errs.append(invalid("metadata.name", get_str(meta, "name"),
                                "will not able to create pod with invalid DNS label: "
                                f"{hostname}"))
    return errs


def _mutable_scheduling(old: dict[str, Any]) -> bool:
    # A suspended Job that never started may still change its pod scheduling directives.
    return get_map(old, "spec").get("suspend") is True and \
        not has(get_map(old, "status"), "startTime")


def _template_update(spec: dict[str, Any], old_spec: dict[str, Any], mutable: bool
                     ) -> list[FieldError]:
    template = as_map(spec.get("template"))
    old_template = as_map(old_spec.get("template"))
    if mutable:
        old_template = {**old_template}
        old_pod = {**get_map(old_template, "spec")}
        new_pod = get_map(template, "spec")
        for key in ("nodeSelector", "tolerations", "schedulingGates"):
            if key in new_pod:
                old_pod[key] = new_pod[key]
            else:
                old_pod.pop(key, None)
        new_affinity, old_affinity = new_pod.get("affinity"), old_pod.get("affinity")
        if new_affinity is None and old_affinity is not None:
            rest = {k: v for k, v in as_map(old_affinity).items() if k != "nodeAffinity"}
            if rest:
                old_pod["affinity"] = rest
            else:
                old_pod.pop("affinity")
        elif new_affinity is not None:
            merged = {k: v for k, v in as_map(old_affinity).items() if k != "nodeAffinity"}
            if "nodeAffinity" in as_map(new_affinity):
                merged["nodeAffinity"] = as_map(new_affinity)["nodeAffinity"]
            old_pod["affinity"] = merged
        old_meta = {**get_map(old_template, "metadata")}
        for key in ("labels", "annotations"):
            new_meta = get_map(template, "metadata")
            if key in new_meta:
                old_meta[key] = new_meta[key]
            else:
                old_meta.pop(key, None)
        old_template["spec"] = old_pod
        old_template["metadata"] = old_meta
    return immutable(template, old_template, "spec.template")


def validate_job_update(new: Any, old: Any) -> list[FieldError]:
    """The template, selector, completion mode and failure policy are immutable."""
    new, old = as_map(new), as_map(old)
    spec, old_spec = get_map(new, "spec"), get_map(old, "spec")
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += _job_spec(spec, "spec")
    completions, old_completions = spec.get("completions"), old_spec.get("completions")
    if spec.get("completionMode") != "Indexed":
        errs += immutable(completions, old_completions, "spec.completions")
    elif completions != old_completions and completions is not None and \
            completions != spec.get("parallelism"):
        errs.append(invalid("spec.completions", completions,
                            "can only be modified in tandem with spec.parallelism"))
    errs += immutable(spec.get("selector"), old_spec.get("selector"), "spec.selector")
    errs += _template_update(spec, old_spec, _mutable_scheduling(old))
    for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy",
                "successPolicy"):
        errs += immutable(spec.get(key), old_spec.get(key), f"spec.{key}")
    return errs


def validate_job_status_update(new: Any, old: Any) -> list[FieldError]:
    """Counters are non-negative and the succeeded/failed counters never decrease."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    status, old_status = get_map(new, "status"), get_map(old, "status")
    for key in ("active", "succeeded", "failed", "ready", "terminating"):
        errs += nonnegative(get_int(status, key), f"status.{key}")
    ready = get_int(status, "ready")
    # Like upstream's status strategy, only a write that touches the counters is judged.
    counts_changed = any(status.get(k) != old_status.get(k) for k in ("ready", "active"))
    if counts_changed and ready is not None and ready > (get_int(status, "active") or 0):
        errs.append(invalid("status.ready", ready, "cannot set more ready pods than active"))
    spec = get_map(new, "spec")
    # An Indexed Job with completions == parallelism may be scaled down, which drops
    # succeeded indexes, so upstream lets its succeeded counter decrease.
    scalable = spec.get("completionMode") == "Indexed" and \
        spec.get("completions") == spec.get("parallelism")
    for key in ("failed", "succeeded"):
        if key == "succeeded" and scalable:
            continue
        if (get_int(status, key) or 0) < (get_int(old_status, key) or 0):
            errs.append(invalid(f"status.{key}", get_int(status, key) or 0,
                                f"cannot decrease the {key} counter"))
    return errs


# ---------------------------------------------------------------------------- CronJob


def _schedule(schedule: str, allow_tz: bool, time_zone: str | None) -> list[FieldError]:
    errs: list[FieldError] = []
    try:
        parse_standard(schedule)
    except CronError as exc:
        errs.append(invalid("spec.schedule", schedule, str(exc)))
    if allow_tz and "TZ" in schedule and time_zone is not None:
        errs.append(invalid("spec.schedule", schedule,
                            "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
    elif not allow_tz and "TZ" in schedule:
        errs.append(invalid("spec.schedule", schedule,
                            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    return errs


def validate_time_zone(time_zone: Any, path: str) -> list[FieldError]:
    """An explicit IANA zone name that the zone database knows."""
    if time_zone is None:
        return []
    name = time_zone if isinstance(time_zone, str) else ""
    if not name:
        return [invalid(path, name, "timeZone must be nil or non-empty string")]
    for part in name.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TIME_ZONE_PART.fullmatch(part):
            return [invalid(path, name, f"unknown time zone {name}")]
    errs: list[FieldError] = []
    if name.lower() == "local":
        errs.append(invalid(path, name, "timeZone must be an explicit time zone as defined in "
                                        "https://www.iana.org/time-zones"))
    try:
        load_location(name)
    except CronError as exc:
        errs.append(invalid(path, name, str(exc)))
    return errs


def _cron_spec(spec: dict[str, Any], old_spec: dict[str, Any] | None) -> list[FieldError]:
    errs: list[FieldError] = []
    schedule = get_str(spec, "schedule")
    time_zone = spec.get("timeZone")
    if not schedule:
        errs.append(required("spec.schedule", ""))
    else:
        allow_tz = old_spec is not None and "TZ" in get_str(old_spec, "schedule")
        errs += _schedule(schedule, allow_tz, time_zone if isinstance(time_zone, str) else None)
    errs += nonnegative(get_int(spec, "startingDeadlineSeconds"), "spec.startingDeadlineSeconds")
    if old_spec is None or old_spec.get("timeZone") != time_zone:
        errs += validate_time_zone(time_zone, "spec.timeZone")
    policy = get_str(spec, "concurrencyPolicy")
    if not policy:
        errs.append(required("spec.concurrencyPolicy", ""))
    elif policy not in ("Allow", "Forbid", "Replace"):
        errs.append(not_supported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"]))
    job_spec = get_map(get_map(spec, "jobTemplate"), "spec")
    errs += _job_spec_common(job_spec, "spec.jobTemplate.spec")
    if job_spec.get("selector") is not None:
        errs.append(invalid("spec.jobTemplate.spec.selector", job_spec.get("selector"),
                            "`selector` will be auto-generated"))
    if job_spec.get("manualSelector") is True:
        errs.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ["nil", "false"]))
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += nonnegative(get_int(spec, key), f"spec.{key}")
    return errs


def validate_cron_job(obj: Any) -> list[FieldError]:
    """Upstream ``ValidateCronJobCreate`` (names at most 52 characters)."""
    obj = as_map(obj)
    meta = get_map(obj, "metadata")
    errs = validate_object_meta(meta, namespaced=True, name_rule=name_is_dns_subdomain)
    errs += _cron_spec(get_map(obj, "spec"), None)
    name = get_str(meta, "name")
    if len(name) > 63 - 11:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    return errs


def validate_cron_job_update(new: Any, old: Any) -> list[FieldError]:
    """Metadata rules plus the spec rules (the 52-character limit is not re-checked)."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    return errs + _cron_spec(get_map(new, "spec"), get_map(old, "spec"))


def validate_cron_job_status_update(new: Any, old: Any) -> list[FieldError]:
    """Only metadata rules apply."""
    return validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))


__all__ = [
    "CONTROLLER_UID_LABEL",
    "JOB_NAME_LABEL",
    "LEGACY_CONTROLLER_UID_LABEL",
    "LEGACY_JOB_NAME_LABEL",
    "validate_cron_job",
    "validate_cron_job_status_update",
    "validate_cron_job_update",
    "validate_job",
    "validate_job_status_update",
    "validate_job_update",
    "validate_time_zone",
]
