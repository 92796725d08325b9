"""The Endpoints controller (upstream's ``endpoint`` controller): for every Service with a
selector, an Endpoints object of the same name listing the selected pods.

Pods are grouped into subsets by the set of ports they serve (a named ``targetPort`` can
resolve to different numbers on different pods); ready pods are ``addresses``, the others
``notReadyAddresses`` (all ready with ``publishNotReadyAddresses``). Terminating pods are left
out unless not-ready addresses are published. The controller deletes the Endpoints of a
deleted Service itself (they carry no ownerReference) and, once at start, the Endpoints left
behind by Services deleted while it was down.

Workers reconcile one Service key at a time from the shared informer caches; the
Endpoints object is written only when its subsets, labels or capacity annotation differ.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import orjson

from kubesmith.api.types import Obj
from kubesmith.client import ApiError
from kubesmith.client.rest import ENDPOINTS, PODS, SERVICES
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.endpoint_common import (
    HEADLESS_LABEL,
    IPV4,
    IPV6,
    LAST_CHANGE_TRIGGER_TIME,
    EndpointPort,
    ServicePods,
    TriggerTimeTracker,
    endpoint_ports,
    ip_family,
    is_service_ip_set,
    pod_ips,
    pod_ips_of_family,
    pod_reference,
    service_selector,
    should_pod_be_in_endpoints,
    should_set_hostname,
)
from kubesmith.controllers.util import is_namespace_terminating, is_pod_ready, labels_of, meta

#: Most addresses one Endpoints object carries; beyond, it is truncated and annotated.
MAX_CAPACITY = 1000
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
#: Endpoints used as leader-election locks by old components; never deleted as leftovers.
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"


class EndpointsController(Controller):
    name = "endpoint-controller"
    component = "endpoint-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.services = self.informer(SERVICES)
        self.pods = self.informer(PODS)
        self.endpoints = self.informer(ENDPOINTS)
        self.services.add_handlers(on_add=self.enqueue,
                                   on_update=lambda _old, new: self.enqueue(new),
                                   on_delete=self.enqueue)
        self.endpoints.add_handlers(on_delete=self.enqueue)
        self.membership = ServicePods(self.services, self.pods, self.queue_key)
        self.trigger_times = TriggerTimeTracker()

    def queue_key(self, key: str) -> None:
        """Queue a Service key (the queue is replaced when the controller restarts)."""
        self.queue.add(key)

    async def started(self) -> None:
        # Endpoints whose Service vanished while we were down are found only this way.
        for endpoints in self.endpoints.list():
            annotations = meta(endpoints).get("annotations") or {}
            if LEADER_ANNOTATION not in annotations:
                self.enqueue(endpoints)

    async def reconcile(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        service = self.services.get(key)
        if service is None:
            try:
                await self.client.delete(ENDPOINTS, name, namespace)
            except ApiError as exc:
                if exc.code != 404:
                    raise
            self.trigger_times.forget(key)
            return
        selector = service_selector(service)
        if selector is None:
            return
        pods = self.membership.pods_for(service, selector)
        trigger_time = self.trigger_times.compute(key, service, pods)
        subsets = desired_subsets(service, pods)
        # Truncate first so an over-capacity Endpoints at its cut is not rewritten per sync.
        truncated = truncate_subsets(subsets)
        current = self.endpoints.get(key)
        service_labels = labels_of(service)
        if current is not None:
            current_labels = {k: v for k, v in labels_of(current).items()
                              if k != HEADLESS_LABEL}
            over = OVER_CAPACITY in (meta(current).get("annotations") or {})
            if current_labels == service_labels and over == truncated and \
                    canonical_subsets(current.get("subsets")) == canonical_subsets(subsets):
                return
        wanted: Obj = copy.deepcopy(current) if current is not None else {
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace}}
        wanted.setdefault("apiVersion", "v1")
        wanted.setdefault("kind", "Endpoints")
        wanted_meta: dict[str, Any] = wanted["metadata"]
        annotations: dict[str, str] = dict(wanted_meta.get("annotations") or {})
        if trigger_time is not None:
            annotations[LAST_CHANGE_TRIGGER_TIME] = trigger_time
        else:
            annotations.pop(LAST_CHANGE_TRIGGER_TIME, None)
        if truncated:
            annotations[OVER_CAPACITY] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY, None)
        labels = dict(service_labels)
        if is_service_ip_set(service):
            labels.pop(HEADLESS_LABEL, None)
        else:
            labels[HEADLESS_LABEL] = ""
        wanted_meta["labels"] = labels
        wanted_meta["annotations"] = annotations
        wanted["subsets"] = subsets
        await self._write(service, wanted, create=current is None)

    async def _write(self, service: Obj, endpoints: Obj, *, create: bool) -> None:
        ns, name = meta(service)["namespace"], meta(service)["name"]
        try:
            if create:
                await self.client.create(ENDPOINTS, endpoints, ns)
            else:
                await self.client.replace(ENDPOINTS, endpoints, ns)
        except ApiError as exc:
            if create and exc.code == 403 and is_namespace_terminating(exc):
                return
            if exc.code == 409:
                # A stale cache or a concurrent writer: retry from the fresh cache.
                raise
            if create:
                self.recorder.event(endpoints, "Warning", "FailedToCreateEndpoint",
                                    f"Failed to create endpoint for service {ns}/{name}: "
                                    f"{exc.message}")
            else:
                self.recorder.event(endpoints, "Warning", "FailedToUpdateEndpoint",
                                    f"Failed to update endpoint {ns}/{name}: {exc.message}")
            raise


# ---- building subsets ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Entry:
    """One (address, port) pair before repacking; ``port`` None for a port-less headless
    Service."""

    address_key: tuple[str, str]
    port: EndpointPort | None
    ready: bool


def _service_family(service: Obj, pod: Obj) -> str:
    spec = service.get("spec") or {}
    families = spec.get("ipFamilies") or ()
    if families:
        return str(families[0])
    if is_service_ip_set(service):
        return ip_family(str(spec["clusterIP"]))
    ips = pod_ips(pod)
    return ip_family(ips[0]) if ips else IPV4


def _address(service: Obj, pod: Obj) -> dict[str, Any] | None:
    family = _service_family(service, pod)
    ips = pod_ips_of_family(pod, family if family in (IPV4, IPV6) else IPV4)
    if not ips:
        return None
    address: dict[str, Any] = {"ip": ips[0], "targetRef": pod_reference(pod)}
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        address["nodeName"] = node_name
    if should_set_hostname(pod, service):
        address["hostname"] = pod["spec"]["hostname"]
    return address


def desired_subsets(service: Obj, pods: list[Obj]) -> list[dict[str, Any]]:
    """The canonical subsets for ``service`` backed by ``pods``: addresses grouped by the
    exact set of ports they serve, a pod not ready for any port counted not ready."""
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    addresses: dict[tuple[str, str], dict[str, Any]] = {}
    entries: list[_Entry] = []
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, publish):
            continue
        address = _address(service, pod)
        if address is None:
            continue
        key = (address["ip"], address["targetRef"]["uid"])
        ready = publish or is_pod_ready(pod)
        ports = endpoint_ports(service, pod)
        if ports is None:
            addresses.setdefault(key, address)
            entries.append(_Entry(key, None, ready))
            continue
        for port in ports:
            addresses.setdefault(key, address)
            entries.append(_Entry(key, port, ready))
    return _repack(addresses, entries)


def _repack(addresses: dict[tuple[str, str], dict[str, Any]],
            entries: list[_Entry]) -> list[dict[str, Any]]:
    # port -> address -> ready; an address not ready on a port stays not ready there.
    by_port: dict[EndpointPort | None, dict[tuple[str, str], bool]] = {}
    for entry in entries:
        ready_map = by_port.setdefault(entry.port, {})
        ready_map[entry.address_key] = ready_map.get(entry.address_key, True) and entry.ready
    # The same set of (address, readiness) -> the ports it serves: one subset.
    groups: dict[frozenset[tuple[tuple[str, str], bool]], list[EndpointPort | None]] = {}
    for port, ready_map in by_port.items():
        groups.setdefault(frozenset(ready_map.items()), []).append(port)
    subsets: list[dict[str, Any]] = []
    for members, ports in groups.items():
        subset: dict[str, Any] = {}
        ready = sorted((k for k, r in members if r))
        not_ready = sorted((k for k, r in members if not r))
        if ready:
            subset["addresses"] = [addresses[k] for k in ready]
        if not_ready:
            subset["notReadyAddresses"] = [addresses[k] for k in not_ready]
        real_ports = sorted(p for p in ports if p is not None)
        if real_ports:
            subset["ports"] = [_render_port(p) for p in real_ports]
        subsets.append(subset)
    return sorted(subsets, key=_sort_key)


def _render_port(port: EndpointPort) -> dict[str, Any]:
    rendered: dict[str, Any] = {"port": port.port, "protocol": port.protocol}
    if port.name:
        rendered["name"] = port.name
    if port.app_protocol:
        rendered["appProtocol"] = port.app_protocol
    return rendered


def _sort_key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonical_subsets(subsets: Any) -> list[dict[str, Any]]:
    """Stored subsets in the form :func:`desired_subsets` builds (sorted, empty lists and
    targetRef resourceVersions dropped), so equal content compares equal."""
    result: list[dict[str, Any]] = []
    for subset in subsets or ():
        if not isinstance(subset, dict):
            continue
        canonical: dict[str, Any] = {}
        for field_name in ("addresses", "notReadyAddresses"):
            found = [_canonical_address(a) for a in subset.get(field_name) or ()
                     if isinstance(a, dict)]
            if found:
                canonical[field_name] = sorted(
                    found, key=lambda a: (a.get("ip", ""),
                                          (a.get("targetRef") or {}).get("uid", "")))
        ports = [_canonical_port(p) for p in subset.get("ports") or () if isinstance(p, dict)]
        if ports:
            canonical["ports"] = sorted(ports, key=lambda p: (
                p.get("name", ""), p["port"], p["protocol"], p.get("appProtocol", "")))
        result.append(canonical)
    return sorted(result, key=_sort_key)


def _canonical_address(address: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in address.items() if v not in (None, "")}
    ref = out.get("targetRef")
    if isinstance(ref, dict):
        out["targetRef"] = {k: v for k, v in ref.items()
                            if k != "resourceVersion" and v not in (None, "")}
    return out


def _canonical_port(port: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in port.items() if v not in (None, "")}
    out.setdefault("protocol", "TCP")
    return out


def truncate_subsets(subsets: list[dict[str, Any]]) -> bool:
    """Cut ``subsets`` down to :data:`MAX_CAPACITY` addresses (in place), ready addresses
    first, each subset keeping its share; returns whether anything was cut."""
    total_ready = sum(len(s.get("addresses") or ()) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or ()) for s in subsets)
    if total_ready + total_not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = total_ready > MAX_CAPACITY
    budget = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - total_ready
    total = total_ready if truncate_ready else total_not_ready
    left = budget
    for subset in subsets:
        field_name = "addresses" if truncate_ready else "notReadyAddresses"
        members = list(subset.get(field_name) or ())
        share = min(math.ceil(len(members) / total * budget), left) if total else 0
        kept = members[:share]
        if kept:
            subset[field_name] = kept
        else:
            subset.pop(field_name, None)
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        left -= len(kept)
    subsets[:] = [s for s in subsets if s.get("addresses") or s.get("notReadyAddresses")]
    return True
