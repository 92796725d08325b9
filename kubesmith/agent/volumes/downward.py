"""The downward API: a pod's own fields and its containers' resources as text, for
downwardAPI volumes and projected ``downwardAPI`` sources (and usable for env
``fieldRef``/``resourceFieldRef`` too).

The text matches the kubelet byte for byte: labels and annotations as sorted
``key="value"`` lines with Go ``%q`` quoting and no trailing newline; resources divided by
the divisor and rounded up, a missing limit replaced by the node's allocatable amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubesmith.agent.volumes.atomic_writer import FileProjection
from kubesmith.agent.volumes.errors import SourceError
from kubesmith.api.gofmt import quote
from kubesmith.api.types import Obj
from kubesmith.api.validation.pod import _split_subscripted as split_subscripted
from kubesmith.api.validation.quantity import Quantity, QuantityError, parse_quantity

#: Limits that default to node allocatable when a container sets none.
_DEFAULTED_LIMITS = ("cpu", "memory", "ephemeral-storage")


def format_map(values: Mapping[str, str]) -> str:
    """``key="value"`` lines sorted by key (upstream's ``fieldpath.FormatMap``)."""
    return "\n".join(f"{key}={quote(values[key])}" for key in sorted(values))


def field_path_value(pod: Obj, path: str) -> str:
    """The value of a ``fieldRef.fieldPath`` of ``pod``.

    Volumes accept the metadata paths only (API validation enforces that); the spec and
    status paths env variables may name are answered from the pod object too.
    """
    meta: dict[str, Any] = pod.get("metadata") or {}
    spec: dict[str, Any] = pod.get("spec") or {}
    status: dict[str, Any] = pod.get("status") or {}
    sub = split_subscripted(path)
    if sub is not None:
        head, key = sub
        if head == "metadata.labels":
            return str((meta.get("labels") or {}).get(key, ""))
        if head == "metadata.annotations":
            return str((meta.get("annotations") or {}).get(key, ""))
        raise SourceError(f"unsupported fieldPath: {path}")
    simple: dict[str, Any] = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"), "status.podIP": status.get("podIP"),
        "status.hostIPs": ",".join(i.get("ip", "") for i in status.get("hostIPs") or []),
        "status.podIPs": ",".join(i.get("ip", "") for i in status.get("podIPs") or []),
    }
    if path == "metadata.labels":
        return format_map(meta.get("labels") or {})
    if path == "metadata.annotations":
        return format_map(meta.get("annotations") or {})
    if path in simple:
        return str(simple[path] or "")
    raise SourceError(f"unsupported fieldPath: {path}")


def _find_container(pod: Obj, name: str) -> Obj:
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            if container.get("name") == name:
                result: Obj = container
                return result
    raise SourceError(f"container {name} not found")


def _quantity(value: Any) -> Quantity:
    try:
        return parse_quantity(value)
    except QuantityError as exc:
        raise SourceError(str(exc)) from exc


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def container_resource_value(selector: Obj, pod: Obj,
                             node_allocatable: Mapping[str, Any]) -> str:
    """The value of a ``resourceFieldRef`` (``limits.cpu``, ``requests.memory``...) of
    the named container, divided by the divisor (default 1) and rounded up."""
    container = _find_container(pod, str(selector.get("containerName") or ""))
    resource = str(selector.get("resource") or "")
    divisor = _quantity(selector.get("divisor") or "1")
    if divisor.is_zero():
        divisor = _quantity("1")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not (
            name in _DEFAULTED_LIMITS or name.startswith("hugepages-")):
        raise SourceError(f"unsupported container resource : {resource}")
    resources = container.get("resources") or {}
    amounts: dict[str, Any] = dict(resources.get(kind) or {})
    if kind == "limits":
        for default in _DEFAULTED_LIMITS:
            if default not in amounts and default in node_allocatable:
                amounts[default] = node_allocatable[default]
    amount = _quantity(amounts.get(name, "0"))
    if name == "cpu":
        return str(_ceil_div(amount.milli_value(), max(divisor.milli_value(), 1)))
    return str(_ceil_div(amount.value(), max(divisor.value(), 1)))


def aggregate(messages: list[str]) -> str:
    """Several errors as one message (upstream's ``utilerrors.NewAggregate``)."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def downward_payload(items: list[Obj], pod: Obj, default_mode: int,
                     node_allocatable: Mapping[str, Any], *,
                     fs_user: int | None = None) -> dict[str, FileProjection]:
    """The files of a downwardAPI volume (or projected source); every item's error is
    collected and raised together as one :class:`SourceError`."""
    files: dict[str, FileProjection] = {}
    errors: list[str] = []
    for item in items:
        mode = item.get("mode")
        mode = default_mode if mode is None else int(mode)
        try:
            if item.get("fieldRef"):
                text = field_path_value(pod, str(item["fieldRef"].get("fieldPath", "")))
            elif item.get("resourceFieldRef"):
                text = container_resource_value(item["resourceFieldRef"], pod,
                                                node_allocatable)
            else:
                text = ""
        except SourceError as exc:
            errors.append(str(exc))
            continue
        files[str(item.get("path", ""))] = FileProjection(text.encode(), mode, fs_user)
    if errors:
        raise SourceError(aggregate(errors))
    return files
