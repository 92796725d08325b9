"""Turning desired endpoints into EndpointSlice creates, updates and deletes with minimal
churn (upstream's ``k8s.io/endpointslice`` reconciler).

Planning is pure (:func:`plan_slices`) so it is unit-tested without an API server:

1. Existing slices keep the endpoints still desired (updated in place when conditions or
   topology changed); a slice left empty is deleted.
2. Slices already being updated are filled up, fullest first, with new endpoints.
3. Remaining endpoints go into one unchanged slice that fits them best, else into new
   slices of at most ``max_per_slice`` endpoints.
4. A Service without endpoints keeps one empty placeholder slice.
5. Creates are turned into updates of slices that would otherwise be deleted.

:class:`SliceWriter` then writes the plan and records what it expects to see back in the
informer cache (:mod:`.tracker`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import ENDPOINTSLICES
from kubesmith.controllers.endpoint_common import (
    HEADLESS_LABEL,
    LAST_CHANGE_TRIGGER_TIME,
    is_service_ip_set,
)
from kubesmith.controllers.endpointslice.desired import (
    EndpointKey,
    PortsKey,
    endpoint_key,
    endpoints_equal_beyond_key,
    render_ports,
    stored_ports_key,
)
from kubesmith.controllers.endpointslice.tracker import EndpointSliceTracker
from kubesmith.controllers.util import is_namespace_terminating, is_terminating, labels_of, meta

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
#: The managed-by value of slices this controller owns.
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100

_RESERVED_LABELS = frozenset({SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL})


@dataclass(slots=True)
class SlicePlan:
    """What to write for one Service."""

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether nothing needs writing."""
        return not (self.create or self.update or self.delete)


def owned_by(endpoint_slice: Obj, service: Obj) -> bool:
    """Whether the slice's owner references name this Service (by uid)."""
    uid = meta(service).get("uid")
    return any(ref.get("uid") == uid and ref.get("kind") == "Service" and
               ref.get("apiVersion") == "v1"
               for ref in meta(endpoint_slice).get("ownerReferences") or ())


def slice_labels(endpoint_slice: Obj | None, service: Obj) -> tuple[dict[str, str], bool]:
    """The labels a slice of ``service`` must carry (the Service's, minus reserved keys,
    plus service-name, managed-by and headless) and whether the mirrored part changed."""
    current = {k: v for k, v in labels_of(endpoint_slice or {}).items()
               if k not in _RESERVED_LABELS}
    wanted = {k: v for k, v in labels_of(service).items() if k not in _RESERVED_LABELS}
    changed = current != wanted
    if not is_service_ip_set(service):
        wanted[HEADLESS_LABEL] = ""
    wanted[SERVICE_NAME_LABEL] = str(meta(service).get("name"))
    wanted[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return wanted, changed


def new_slice(service: Obj, ports: PortsKey, address_type: str) -> Obj:
    """An unnamed slice (``generateName <service>-``) owned by ``service``."""
    m = meta(service)
    labels, _ = slice_labels(None, service)
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{m['name']}-", "namespace": m.get("namespace"),
            "labels": labels,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": m["name"],
                                 "uid": m.get("uid"), "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "addressType": address_type, "endpoints": [], "ports": render_ports(ports),
    }


def _name(endpoint_slice: Obj) -> str:
    return str(meta(endpoint_slice).get("name") or "")


def _endpoints(endpoint_slice: Obj) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = endpoint_slice.get("endpoints") or []
    return found


def _pop(desired: dict[EndpointKey, dict[str, Any]]) -> dict[str, Any]:
    return desired.pop(next(iter(desired)))


def _slice_to_fill(candidates: list[Obj], count: int, max_per_slice: int) -> Obj | None:
    """The unchanged slice that ends up closest to full after taking ``count`` more."""
    best: Obj | None = None
    best_gap = max_per_slice
    for candidate in candidates:
        gap = max_per_slice - (count + len(_endpoints(candidate)))
        if 0 <= gap < best_gap:
            best, best_gap = candidate, gap
            if gap == 0:
                break
    return best


def _plan_port_group(service: Obj, existing: list[Obj],
                     desired: dict[EndpointKey, dict[str, Any]], ports: PortsKey,
                     address_type: str, max_per_slice: int) -> SlicePlan:
    by_name: dict[str, Obj] = {}
    unchanged: list[str] = []
    to_update: list[str] = []
    to_delete: list[str] = []
    # 1. keep what is still desired, in place.
    for current in existing:
        name = _name(current)
        by_name[name] = current
        kept: list[dict[str, Any]] = []
        changed = False
        for endpoint in _endpoints(current):
            wanted = desired.pop(endpoint_key(endpoint), None)
            if wanted is None:
                continue
            kept.append(wanted)
            changed = changed or not endpoints_equal_beyond_key(wanted, endpoint)
        labels, labels_changed = slice_labels(current, service)
        if changed or len(kept) != len(_endpoints(current)):
            if not kept:
                to_delete.append(name)
                continue
            updated = copy.deepcopy(current)
            updated["endpoints"] = kept
            updated["metadata"]["labels"] = labels
            by_name[name] = updated
            to_update.append(name)
        elif labels_changed:
            updated = copy.deepcopy(current)
            updated["metadata"]["labels"] = labels
            by_name[name] = updated
            to_update.append(name)
        else:
            unchanged.append(name)
    # 2. fill the slices we write anyway, fullest first.
    if desired and to_update:
        for filling in sorted((by_name[n] for n in to_update),
                              key=lambda s: len(_endpoints(s)), reverse=True):
            while desired and len(_endpoints(filling)) < max_per_slice:
                filling["endpoints"].append(_pop(desired))
    # 3. one unchanged slice that fits the rest, else new slices.
    creates: list[Obj] = []
    while desired:
        target: Obj | None = None
        if len(desired) < max_per_slice and unchanged:
            found = _slice_to_fill([by_name[n] for n in unchanged], len(desired),
                                   max_per_slice)
            if found is not None:
                target = copy.deepcopy(found)
                target["endpoints"] = list(_endpoints(target))
                by_name[_name(target)] = target
        if target is None:
            target = new_slice(service, ports, address_type)
        while desired and len(_endpoints(target)) < max_per_slice:
            target["endpoints"].append(_pop(desired))
        if _name(target):
            unchanged.remove(_name(target))
            to_update.append(_name(target))
        else:
            creates.append(target)
    return SlicePlan(creates, [by_name[n] for n in to_update], [by_name[n] for n in to_delete])


def _is_placeholder(endpoint_slice: Obj, placeholder: Obj) -> bool:
    return not _endpoints(endpoint_slice) and not endpoint_slice.get("ports") and \
        endpoint_slice.get("addressType") == placeholder.get("addressType") and \
        labels_of(endpoint_slice) == labels_of(placeholder) and \
        meta(endpoint_slice).get("ownerReferences") == meta(placeholder).get("ownerReferences")


def plan_slices(service: Obj, existing: list[Obj],
                desired: dict[PortsKey, dict[EndpointKey, dict[str, Any]]], address_type: str,
                max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> SlicePlan:
    """The writes that make ``existing`` slices (of one address type) hold ``desired``
    (consumed). See the module docstring for the steps."""
    plan = SlicePlan()
    existing_by_ports: dict[PortsKey, list[Obj]] = {}
    for current in existing:
        if owned_by(current, service):
            existing_by_ports.setdefault(stored_ports_key(current), []).append(current)
        else:
            # A slice of an older Service of the same name.
            plan.delete.append(current)
    for ports, endpoints in desired.items():
        group = _plan_port_group(service, existing_by_ports.get(ports, []), endpoints, ports,
                                 address_type, max_per_slice)
        plan.create += group.create
        plan.update += group.update
        plan.delete += group.delete
    for ports, slices in existing_by_ports.items():
        if ports not in desired:
            plan.delete += slices
    if len(existing) == len(plan.delete) and not plan.create:
        placeholder = new_slice(service, (), address_type)
        if len(plan.delete) == 1 and _is_placeholder(plan.delete[0], placeholder):
            plan.delete = []
        else:
            plan.create.append(placeholder)
    _reuse_deleted(service, plan)
    return plan


def _reuse_deleted(service: Obj, plan: SlicePlan) -> None:
    """Turn creates into updates of slices about to be deleted (same type, same owner)."""
    i = 0
    while i < len(plan.delete) and plan.create:
        doomed = plan.delete[i]
        if doomed.get("addressType") != plan.create[-1].get("addressType") or \
                not owned_by(doomed, service):
            i += 1
            continue
        fresh = plan.create.pop()
        reused = copy.deepcopy(doomed)
        reused["endpoints"] = fresh["endpoints"]
        reused["ports"] = fresh["ports"]
        reused["metadata"]["labels"] = fresh["metadata"]["labels"]
        plan.update.append(reused)
        del plan.delete[i]


def _with_trigger_time(endpoint_slice: Obj, trigger_time: str | None) -> Obj:
    annotations = dict(meta(endpoint_slice).get("annotations") or {})
    if trigger_time is not None:
        annotations[LAST_CHANGE_TRIGGER_TIME] = trigger_time
    else:
        annotations.pop(LAST_CHANGE_TRIGGER_TIME, None)
    endpoint_slice["metadata"]["annotations"] = annotations
    return endpoint_slice


class SliceWriter:
    """Writes a :class:`SlicePlan` with the controller's client and tells the tracker
    which generations (or deletions) the informer cache should show afterwards."""

    def __init__(self, client: Client, tracker: EndpointSliceTracker) -> None:
        self.client = client
        self.tracker = tracker

    async def write(self, service: Obj, plan: SlicePlan, trigger_time: str | None) -> None:
        """Create (unless the Service is being deleted), update, then delete."""
        ns = str(meta(service).get("namespace"))
        key = f"{ns}/{meta(service).get('name')}"
        if not is_terminating(service):
            for endpoint_slice in plan.create:
                try:
                    created = await self.client.create(
                        ENDPOINTSLICES, _with_trigger_time(endpoint_slice, trigger_time), ns)
                except ApiError as exc:
                    if exc.code == 403 and is_namespace_terminating(exc):
                        return
                    raise RuntimeError(f"failed to create EndpointSlice for Service {key}: "
                                       f"{exc.message}") from exc
                self.tracker.expect(key, created)
        for endpoint_slice in plan.update:
            try:
                updated = await self.client.replace(
                    ENDPOINTSLICES, _with_trigger_time(endpoint_slice, trigger_time), ns)
            except ApiError as exc:
                raise RuntimeError(f"failed to update {_name(endpoint_slice)} EndpointSlice "
                                   f"for Service {key}: {exc.message}") from exc
            self.tracker.expect(key, updated)
        for endpoint_slice in plan.delete:
            try:
                await self.client.delete(ENDPOINTSLICES, _name(endpoint_slice), ns)
            except ApiError as exc:
                if exc.code == 404:
                    continue  # gone already: no deletion event to wait for
                raise RuntimeError(f"failed to delete {_name(endpoint_slice)} "
                                   f"EndpointSlice for Service {key}: {exc.message}") from exc
            self.tracker.expect_deletion(key, endpoint_slice)
