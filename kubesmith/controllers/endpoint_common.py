"""What the Endpoints and EndpointSlice controllers share (upstream's
``k8s.io/endpointslice/util``): which pods back a Service, which Services a pod change
touches, how a Service port resolves against a pod (named ports included), the pod
addresses of an IP family and the ``last-change-trigger-time`` bookkeeping.

One definition each, so both controllers always agree on which pods a Service selects and
on which port a named ``targetPort`` means for a given pod.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import Informer, object_key
from kubesmith.controllers.util import (
    NAMESPACE_INDEX,
    get_condition,
    index_by_namespace,
    is_pod_ready,
    is_terminating,
    labels_of,
    meta,
    parse_rfc3339,
    pod_phase,
)

#: Label on Endpoints and EndpointSlices of a Service without a cluster IP.
HEADLESS_LABEL = "service.kubernetes.io/headless"
#: When the change that this Endpoints/EndpointSlice version reflects happened.
LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"

IPV4 = "IPv4"
IPV6 = "IPv6"


def service_selector(service: Obj) -> dict[str, str] | None:
    """The pod selector of a Service this controller family manages, or None: a Service
    without a selector gets its endpoints out of band, and ExternalName Services get none
    (upstream issue 105986)."""
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        return None
    return {str(k): str(v) for k, v in selector.items()}


def selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """A Service selector (a plain label set; empty selects every pod) against labels."""
    return all(labels.get(k) == v for k, v in selector.items())


def is_service_ip_set(service: Obj) -> bool:
    """Whether the Service has a cluster IP (it is not headless)."""
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    return bool(cluster_ip) and cluster_ip != "None"


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """A pod is published when it is not finished, has an IP and (unless asked to include
    them) is not terminating."""
    if pod_phase(pod) in ("Succeeded", "Failed"):
        return False
    if not pod_ips(pod):
        return False
    return include_terminating or not is_terminating(pod)


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    """A pod with ``hostname`` and ``subdomain`` naming this Service gets a DNS hostname."""
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == meta(service).get("name") \
        and meta(pod).get("namespace") == meta(service).get("namespace")


def pod_ips(pod: Obj) -> list[str]:
    """``status.podIPs`` (falling back to ``status.podIP`` when the list is absent)."""
    status = pod.get("status") or {}
    ips = [str(entry.get("ip")) for entry in status.get("podIPs") or ()
           if isinstance(entry, dict) and entry.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


def ip_family(ip: str) -> str:
    """``IPv4`` or ``IPv6`` (unparseable addresses count as IPv4, as upstream's check)."""
    try:
        return IPV6 if ipaddress.ip_address(ip).version == 6 else IPV4
    except ValueError:
        return IPV4


def pod_ips_of_family(pod: Obj, family: str) -> list[str]:
    """The pod's IPs of one family."""
    return [ip for ip in pod_ips(pod) if ip_family(ip) == family]


def service_ip_families(service: Obj) -> list[str]:
    """The families the Service serves: ``spec.ipFamilies``, else guessed from the cluster
    IP, else (headless, old server) both."""
    spec = service.get("spec") or {}
    families = [f for f in spec.get("ipFamilies") or () if f in (IPV4, IPV6)]
    if families:
        return families
    if is_service_ip_set(service):
        return [ip_family(str(spec["clusterIP"]))]
    return [IPV4, IPV6]


@dataclass(frozen=True, slots=True, order=True)
class EndpointPort:
    """A Service port resolved for one pod (both APIs render it their own way)."""

    name: str
    port: int
    protocol: str
    app_protocol: str = ""


def find_port(pod: Obj, service_port: dict[str, Any]) -> int | None:
    """The pod's port for ``service_port``: a numeric ``targetPort`` as is, a named one
    looked up (same protocol) in the containers and the sidecar init containers; None when
    the pod has no such named port."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if not isinstance(target, str):
        return None
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ())
    # Sidecars (init containers that keep running) serve too.
    containers += [c for c in spec.get("initContainers") or ()
                   if isinstance(c, dict) and c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in (container.get("ports") or ()) if isinstance(container, dict) else ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                value = port.get("containerPort")
                return int(value) if isinstance(value, int) else None
    return None


def endpoint_ports(service: Obj, pod: Obj) -> list[EndpointPort] | None:
    """The Service's ports resolved for ``pod`` (ports the pod lacks are left out). None for
    a headless Service without ports, whose endpoints carry addresses only."""
    spec = service.get("spec") or {}
    ports = [p for p in spec.get("ports") or () if isinstance(p, dict)]
    if not ports and spec.get("clusterIP") == "None":
        return None
    resolved: list[EndpointPort] = []
    for port in ports:
        number = find_port(pod, port)
        if number is None:
            continue
        resolved.append(EndpointPort(str(port.get("name") or ""), number,
                                     str(port.get("protocol") or "TCP"),
                                     str(port.get("appProtocol") or "")))
    return resolved


def pod_reference(pod: Obj) -> dict[str, Any]:
    """The ``targetRef`` of an endpoint backed by ``pod``."""
    m = meta(pod)
    return {"kind": "Pod", "namespace": m.get("namespace", ""), "name": m.get("name", ""),
            "uid": m.get("uid", "")}


# ---- which Services a pod belongs to -------------------------------------------------------

class ServicePods:
    """Service membership from the shared Service and pod informers (both indexed by
    namespace, so a lookup costs the namespace, not the cluster). It also registers the pod
    handlers that queue every Service a pod change can affect (upstream's
    ``GetServicesToUpdateOnPodChange``)."""

    def __init__(self, services: Informer, pods: Informer,
                 enqueue: Callable[[str], None]) -> None:
        self.services = services
        self.pods = pods
        self._enqueue = enqueue
        services.add_index(NAMESPACE_INDEX, index_by_namespace)
        pods.add_index(NAMESPACE_INDEX, index_by_namespace)
        pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                          on_delete=self._pod_added)

    def pods_for(self, service: Obj, selector: dict[str, str]) -> list[Obj]:
        """The cached pods ``selector`` (the Service's) selects in its namespace."""
        ns = str(meta(service).get("namespace") or "")
        return [p for p in self.pods.by_index(NAMESPACE_INDEX, ns)
                if selector_matches(selector, labels_of(p))]

    def services_for(self, pod: Obj) -> set[str]:
        """Keys of the Services in the pod's namespace whose selector matches it."""
        ns = str(meta(pod).get("namespace") or "")
        labels = labels_of(pod)
        found: set[str] = set()
        for service in self.services.by_index(NAMESPACE_INDEX, ns):
            selector = (service.get("spec") or {}).get("selector")
            # A Service without a selector selects nothing (not everything).
            if isinstance(selector, dict) and selector_matches(
                    {str(k): str(v) for k, v in selector.items()}, labels):
                found.add(object_key(service))
        return found

    def _pod_added(self, pod: Obj) -> None:
        for key in self.services_for(pod):
            self._enqueue(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        for key in self.services_to_update(old, new):
            self._enqueue(key)

    def services_to_update(self, old: Obj, new: Obj) -> set[str]:
        """The Services a pod update may change the endpoints of."""
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return set()
        pod_changed, labels_changed = _pod_endpoints_changed(old, new)
        if not pod_changed and not labels_changed:
            return set()
        services = self.services_for(new)
        if labels_changed:
            old_services = self.services_for(old)
            if pod_changed:
                services |= old_services
            else:
                # Only membership moved: the Services the pod joined or left.
                services ^= old_services
        return services


def _pod_endpoints_changed(old: Obj, new: Obj) -> tuple[bool, bool]:
    """(whether the pod's endpoint may differ, whether its Service membership may differ)."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    labels_changed = labels_of(old) != labels_of(new) or \
        old_spec.get("hostname") != new_spec.get("hostname") or \
        old_spec.get("subdomain") != new_spec.get("subdomain")
    changed = (meta(old).get("deletionTimestamp") != meta(new).get("deletionTimestamp")
               or is_pod_ready(old) != is_pod_ready(new)
               or pod_ips(old) != pod_ips(new)
               # Also the phase (a finished pod leaves) and the node (set before an IP).
               or pod_phase(old) != pod_phase(new)
               or old_spec.get("nodeName") != new_spec.get("nodeName"))
    return changed, labels_changed


# ---- last-change-trigger-time ---------------------------------------------------------------

@dataclass(slots=True)
class _ServiceTimes:
    service: datetime | None = None
    pods: dict[str, datetime] = field(default_factory=dict)


class TriggerTimeTracker:
    """Computes ``endpoints.kubernetes.io/last-change-trigger-time``: the earliest change
    (a pod's Ready transition or the Service's creation) not yet reflected since the last
    sync of the Service; the Service's creation for a Service seen the first time. Keys are
    synced by one worker at a time, so no locking is needed."""

    def __init__(self) -> None:
        self._states: dict[str, _ServiceTimes] = {}

    def compute(self, key: str, service: Obj, pods: Iterable[Obj]) -> str | None:
        """The annotation value for this sync, or None to clear the annotation."""
        state = self._states.get(key)
        known = state is not None
        if state is None:
            state = self._states[key] = _ServiceTimes()
        earliest: datetime | None = None
        pod_times: dict[str, datetime] = {}
        for pod in pods:
            cond = get_condition(pod, "Ready")
            changed = parse_rfc3339(cond.get("lastTransitionTime")) if cond else None
            if changed is None:
                continue
            name = str(meta(pod).get("name"))
            pod_times[name] = changed
            before = state.pods.get(name)
            if before is None or changed > before:
                earliest = changed if earliest is None else min(earliest, changed)
        created = parse_rfc3339(meta(service).get("creationTimestamp"))
        if created is not None and (state.service is None or created > state.service):
            earliest = created if earliest is None else min(earliest, created)
        state.pods = pod_times
        state.service = created
        if not known:
            return format_time(created) if created is not None else None
        return format_time(earliest) if earliest is not None else None

    def forget(self, key: str) -> None:
        """Drop a deleted Service's state."""
        self._states.pop(key, None)


def format_time(value: datetime) -> str:
    """RFC 3339 with nanosecond-style fractional digits only when present (Go's
    ``time.RFC3339Nano`` layout in UTC)."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"
