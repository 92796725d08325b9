"""Resource names (``cpu``, ``hugepages-2Mi``, ``example.com/gpu``) and resource lists.

Mirrors ``pkg/apis/core/helper`` (which names are standard, native, extended, integer) and
the resource-requirement checks of ``pkg/apis/core/validation``. Shared by pod, LimitRange,
ResourceQuota and PVC validation, and meant for the scheduler and quota code as well.
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.errors import (
    FieldError,
    duplicate,
    field_forbidden,
    field_not_found,
    invalid,
    not_supported,
    required,
)
from kubesmith.api.validation._fields import (
    IS_NEGATIVE,
    IS_NOT_INTEGER,
    as_list,
    as_map,
    get_str,
    key_path,
)
from kubesmith.api.validation.names import is_dns1123_label, is_qualified_name
from kubesmith.api.validation.quantity import Quantity, QuantityError, parse_quantity

HUGEPAGES_PREFIX = "hugepages-"
REQUESTS_HUGEPAGES_PREFIX = "requests.hugepages-"
DEFAULT_NAMESPACE_PREFIX = "kubernetes.io/"
REQUESTS_PREFIX = "requests."

STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
STANDARD_QUOTA_RESOURCES = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    "pods", "resourcequotas", "services", "replicationcontrollers", "secrets",
    "persistentvolumeclaims", "configmaps", "services.nodeports", "services.loadbalancers",
})
STANDARD_RESOURCES = frozenset({
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
    "pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
    "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports",
    "services.loadbalancers",
})
INTEGER_RESOURCES = frozenset({
    "pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
})
# Resources that may be set at pod level (PodLevelResources); "hugepages-" stands for the
# whole hugepages family, as in upstream's SupportedPodLevelResources().
SUPPORTED_POD_LEVEL_RESOURCES = ("cpu", "hugepages-", "memory")


def is_supported_pod_level_resource(name: str) -> bool:
    """cpu, memory and hugepages may be set in ``spec.resources``."""
    return name in ("cpu", "memory") or name.startswith(HUGEPAGES_PREFIX)


def is_hugepage(name: str) -> bool:
    """``hugepages-<size>``."""
    return name.startswith(HUGEPAGES_PREFIX)


def is_quota_hugepage(name: str) -> bool:
    """``hugepages-<size>`` or ``requests.hugepages-<size>``."""
    return name.startswith((HUGEPAGES_PREFIX, REQUESTS_HUGEPAGES_PREFIX))


def is_native(name: str) -> bool:
    """Unprefixed, or in the ``kubernetes.io/`` namespace."""
    return "/" not in name or DEFAULT_NAMESPACE_PREFIX in name


def is_extended(name: str) -> bool:
    """A vendor resource (``example.com/gpu``) usable in quota as ``requests.<name>``."""
    if is_native(name) or name.startswith(REQUESTS_PREFIX):
        return False
    return not is_qualified_name(REQUESTS_PREFIX + name)


def is_overcommit_allowed(name: str) -> bool:
    """Requests may be below limits: native resources except hugepages."""
    return is_native(name) and not is_hugepage(name)


def is_standard_container_resource(name: str) -> bool:
    """cpu, memory, ephemeral-storage or hugepages."""
    return name in STANDARD_CONTAINER_RESOURCES or is_hugepage(name)


def is_standard_resource(name: str) -> bool:
    """Known to the system (``IsStandardResourceName``)."""
    return name in STANDARD_RESOURCES or is_quota_hugepage(name)


def is_standard_quota_resource(name: str) -> bool:
    """Known to quota (``IsStandardQuotaResourceName``)."""
    return name in STANDARD_QUOTA_RESOURCES or is_quota_hugepage(name)


def is_integer_resource(name: str) -> bool:
    """Counted in whole units (object counts and extended resources)."""
    return name in INTEGER_RESOURCES or is_extended(name)


def hugepage_size(name: str) -> Quantity | None:
    """The page size of ``hugepages-<size>``, or None."""
    if not is_hugepage(name):
        return None
    try:
        return parse_quantity(name[len(HUGEPAGES_PREFIX):])
    except QuantityError:
        return None


def validate_resource_name(name: str, path: str) -> list[FieldError]:
    """A qualified name; unprefixed names must be standard."""
    errs = [invalid(path, name, msg) for msg in is_qualified_name(name)]
    if errs:
        return errs
    if "/" not in name and not is_standard_resource(name):
        return [invalid(path, name, "must be a standard resource type or fully qualified")]
    return []


def validate_container_resource_name(name: str, path: str) -> list[FieldError]:
    """A resource a container may request."""
    errs = validate_resource_name(name, path)
    if "/" not in name:
        if not is_standard_container_resource(name):
            return [*errs, invalid(path, name, "must be a standard resource for containers")]
    elif not is_native(name) and not is_extended(name):
        return [*errs, invalid(path, name, "doesn't follow extended resource name standard")]
    return errs


def validate_pod_resource_name(name: str, path: str) -> list[FieldError]:
    """A resource settable at pod level (cpu and memory)."""
    errs = validate_resource_name(name, path)
    if errs:
        return errs
    if not is_supported_pod_level_resource(name):
        return [not_supported(path, name, list(SUPPORTED_POD_LEVEL_RESOURCES))]
    return []


def validate_quota_resource_name(name: str, path: str) -> list[FieldError]:
    """A resource quota may track."""
    errs = validate_resource_name(name, path)
    if "/" not in name and not is_standard_quota_resource(name):
        return [*errs, invalid(path, name, "must be a standard resource for quota")]
    return errs


def parse_resource_list(resources: Any, path: str) -> tuple[dict[str, Quantity], list[FieldError]]:
    """Parse every quantity of a ResourceList, with an error for each unparsable one."""
    parsed: dict[str, Quantity] = {}
    errs: list[FieldError] = []
    for name, raw in sorted(as_map(resources).items()):
        try:
            parsed[name] = parse_quantity(raw)
        except QuantityError as exc:
            shown = raw if isinstance(raw, str) else str(raw)
            errs.append(invalid(key_path(path, name), shown, str(exc)))
    return parsed, errs


def validate_nonnegative_quantity(value: Quantity, path: str) -> list[FieldError]:
    """``value >= 0``."""
    if value.sign() < 0:
        return [invalid(path, str(value), IS_NEGATIVE)]
    return []


def validate_positive_quantity(value: Quantity, path: str) -> list[FieldError]:
    """``value > 0``."""
    if value.sign() <= 0:
        return [invalid(path, str(value), "must be greater than zero")]
    return []


def validate_resource_quantity_value(name: str, value: Quantity, path: str) -> list[FieldError]:
    """Non-negative, and whole for integer resources."""
    errs = validate_nonnegative_quantity(value, path)
    if is_integer_resource(name) and value.milli_value() % 1000 != 0:
        errs.append(invalid(path, str(value), IS_NOT_INTEGER))
    return errs


def _hugepage_value_error(name: str, value: Quantity) -> str:
    size = hugepage_size(name)
    divisible = (size is not None and size.sign() > 0 and size.milli_value() % 1000 == 0
                 and value.value() % size.value() == 0)
    if divisible:
        return ""
    return f"{value} is not positive integer multiple of {name}"


def validate_resource_requirements(resources: Any, path: str, *, pod_level: bool = False,
                                   pod_claim_names: frozenset[str] = frozenset()
                                   ) -> list[FieldError]:
    """Container (or pod-level) ``resources``: names, values, and requests <= limits."""
    res = as_map(resources)
    name_rule = validate_pod_resource_name if pod_level else validate_container_resource_name
    lim_path, req_path = f"{path}.limits", f"{path}.requests"
    limits, errs = parse_resource_list(res.get("limits"), lim_path)
    requests, req_errs = parse_resource_list(res.get("requests"), req_path)
    errs += req_errs
    compute = ("cpu", "memory")
    lim_compute = req_compute = lim_huge = req_huge = False
    for name, value in limits.items():
        name_path = key_path(lim_path, name)
        errs += name_rule(name, name_path)
        errs += validate_resource_quantity_value(name, value, name_path)
        if is_hugepage(name):
            lim_huge = True
            message = _hugepage_value_error(name, value)
            if message:
                errs.append(invalid(name_path, str(value), message))
        lim_compute = lim_compute or name in compute
    for name, value in requests.items():
        name_path = key_path(req_path, name)
        errs += name_rule(name, name_path)
        errs += validate_resource_quantity_value(name, value, name_path)
        limit = limits.get(name)
        if limit is not None:
            if value.cmp(limit) != 0 and not is_overcommit_allowed(name):
                errs.append(invalid(req_path, str(value),
                                    f"must be equal to {name} limit of {limit}"))
            elif value.cmp(limit) > 0:
                errs.append(invalid(req_path, str(value),
                                    f"must be less than or equal to {name} limit of {limit}"))
        elif not is_overcommit_allowed(name):
            errs.append(required(lim_path, "Limit must be set for non overcommitable resources"))
        if is_hugepage(name):
            req_huge = True
            message = _hugepage_value_error(name, value)
            if message:
                errs.append(invalid(name_path, str(value), message))
        req_compute = req_compute or name in compute
    if not lim_compute and not req_compute and (req_huge or lim_huge):
        errs.append(field_forbidden(path, "HugePages require cpu or memory"))
    errs += _validate_claim_names(res.get("claims"), pod_claim_names, f"{path}.claims")
    return errs


def _validate_claim_names(claims: Any, pod_claim_names: frozenset[str],
                          path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, raw in enumerate(as_list(claims)):
        claim = as_map(raw)
        item_path = f"{path}[{i}]"
        name = get_str(claim, "name")
        request = get_str(claim, "request")
        if not name:
            errs.append(required(item_path, ""))
            continue
        if name in names:
            errs.append(duplicate(item_path, name))
        else:
            key = name
            if request:
                errs += [invalid(f"{item_path}.request", request, msg)
                         for msg in is_dns1123_label(request)]
                key += "/" + request
            if key in names:
                errs.append(duplicate(item_path, key))
            elif not request:
                for existing in names:
                    if "/" in existing and existing.split("/", 1)[0] == name:
                        errs.append(duplicate(item_path, name))
            names.add(key)
        if name not in pod_claim_names:
            detail = "must be one of the names in pod.spec.resourceClaims"
            detail += (" which is empty" if not pod_claim_names
                       else ": " + ", ".join(sorted(pod_claim_names)))
            errs.append(field_not_found(item_path, name, detail))
    return errs


def _quantities(resources: Any) -> dict[str, Quantity]:
    """The parseable entries of a ResourceList (bad ones are validation's business)."""
    parsed: dict[str, Quantity] = {}
    for name, raw in as_map(resources).items():
        try:
            parsed[name] = parse_quantity(raw)
        except QuantityError:
            continue
    return parsed


def add_resource_list(total: dict[str, Quantity], more: dict[str, Quantity]) -> None:
    """``total += more`` per resource (upstream ``addResourceList``)."""
    for name, value in more.items():
        total[name] = total[name].add(value) if name in total else value


def max_resource_list(total: dict[str, Quantity], more: dict[str, Quantity]) -> None:
    """``total = max(total, more)`` per resource (upstream ``maxResourceList``)."""
    for name, value in more.items():
        if name not in total or value.cmp(total[name]) > 0:
            total[name] = value


def _aggregate(spec: Any, which: str) -> dict[str, Quantity]:
    # Regular containers run together; init containers run one at a time, each alongside
    # the restartable (sidecar) init containers started before it, and sidecars keep
    # running with the regular containers (KEP-753's formula).
    result: dict[str, Quantity] = {}
    for ctr in as_list(as_map(spec).get("containers")):
        add_resource_list(result, _quantities(as_map(as_map(ctr).get("resources")).get(which)))
    sidecars: dict[str, Quantity] = {}
    init_peak: dict[str, Quantity] = {}
    for raw in as_list(as_map(spec).get("initContainers")):
        ctr = as_map(raw)
        own = _quantities(as_map(ctr.get("resources")).get(which))
        if ctr.get("restartPolicy") == "Always":
            add_resource_list(result, own)
            add_resource_list(sidecars, own)
            current = dict(sidecars)
        else:
            current = dict(own)
            add_resource_list(current, sidecars)
        max_resource_list(init_peak, current)
    max_resource_list(result, init_peak)
    return result


def aggregate_container_requests(spec: Any) -> dict[str, Quantity]:
    """Effective requests of all containers of a PodSpec (``AggregateContainerRequests``)."""
    return _aggregate(spec, "requests")


def aggregate_container_limits(spec: Any) -> dict[str, Quantity]:
    """Effective limits of all containers of a PodSpec (``AggregateContainerLimits``)."""
    return _aggregate(spec, "limits")


def all_containers_have_limit(spec: Any, name: str) -> bool:
    """Whether every (init and regular) container sets a limit for ``name``."""
    for key in ("initContainers", "containers"):
        for ctr in as_list(as_map(spec).get(key)):
            limits = as_map(as_map(as_map(ctr).get("resources")).get("limits"))
            if name not in limits:
                return False
    return True


_POD_OBJECT_COUNT = frozenset({"pods"})
_POD_COMPUTE = frozenset({"cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu",
                          "requests.memory"})
_PVC_RESOURCES = frozenset({"persistentvolumeclaims", "requests.storage"})


def is_resource_quota_scope_valid(scope: str, name: str) -> bool:
    """Whether quota scope ``scope`` can restrict resource ``name``."""
    if scope in ("Terminating", "NotTerminating", "NotBestEffort", "PriorityClass",
                 "CrossNamespacePodAffinity"):
        return name in _POD_OBJECT_COUNT or name in _POD_COMPUTE
    if scope == "BestEffort":
        return name in _POD_OBJECT_COUNT
    if scope == "VolumeAttributesClass":
        return name in _PVC_RESOURCES
    return True
