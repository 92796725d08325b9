"""The endpoints a Service should have, per set of ports: each selected pod becomes one
EndpointSlice endpoint (addresses of the slice's family, ready/serving/terminating
conditions, node, zone, hostname, targetRef). Pods whose named ports resolve differently
land in different port groups, hence in different slices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.endpoint_common import (
    EndpointPort,
    endpoint_ports,
    pod_ips_of_family,
    pod_reference,
    should_pod_be_in_endpoints,
    should_set_hostname,
)
from kubesmith.controllers.util import is_pod_ready, is_terminating, labels_of, meta

ZONE_LABEL = "topology.kubernetes.io/zone"

#: A slice's ports, order-free: slices are grouped by it.
PortsKey = tuple[EndpointPort, ...]
#: What identifies an endpoint across syncs (upstream's endpoint hash): its addresses,
#: hostname and target. Conditions and topology may change in place.
EndpointKey = tuple[tuple[str, ...], str, str, str]


def ports_key(ports: list[EndpointPort] | None) -> PortsKey:
    """The group key of a resolved port list."""
    return tuple(sorted(ports or ()))


def stored_ports_key(endpoint_slice: Obj) -> PortsKey:
    """The group key of a stored slice's ports."""
    return tuple(sorted(
        EndpointPort(str(p.get("name") or ""), int(p.get("port") or 0),
                     str(p.get("protocol") or "TCP"), str(p.get("appProtocol") or ""))
        for p in endpoint_slice.get("ports") or () if isinstance(p, dict)))


def render_ports(key: PortsKey) -> list[dict[str, Any]]:
    """A slice's ``ports`` (names always present, empty for an unnamed port)."""
    rendered: list[dict[str, Any]] = []
    for port in key:
        entry: dict[str, Any] = {"name": port.name, "port": port.port,
                                 "protocol": port.protocol}
        if port.app_protocol:
            entry["appProtocol"] = port.app_protocol
        rendered.append(entry)
    return rendered


def endpoint_key(endpoint: dict[str, Any]) -> EndpointKey:
    """The identity of an endpoint (see :data:`EndpointKey`)."""
    ref = endpoint.get("targetRef") or {}
    return (tuple(sorted(str(a) for a in endpoint.get("addresses") or ())),
            str(endpoint.get("hostname") or ""), str(ref.get("namespace") or ""),
            str(ref.get("name") or ""))


def pod_endpoint(pod: Obj, node: Obj | None, service: Obj,
                 address_type: str) -> dict[str, Any]:
    """The endpoint ``pod`` contributes to ``service``'s slices of ``address_type``."""
    serving = is_pod_ready(pod)
    terminating = is_terminating(pod)
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoint: dict[str, Any] = {
        "addresses": pod_ips_of_family(pod, address_type),
        # Never "ready" while terminating, unless not-ready addresses are published.
        "conditions": {"ready": publish or (serving and not terminating),
                       "serving": serving, "terminating": terminating},
        "targetRef": pod_reference(pod),
    }
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        endpoint["nodeName"] = node_name
    zone = labels_of(node).get(ZONE_LABEL) if node is not None else None
    if zone:
        endpoint["zone"] = zone
    if should_set_hostname(pod, service):
        endpoint["hostname"] = pod["spec"]["hostname"]
    return endpoint


@dataclass(slots=True)
class DesiredEndpoints:
    """Endpoints by port group, plus why some pods were left out."""

    by_ports: dict[PortsKey, dict[EndpointKey, dict[str, Any]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def desired_endpoints(service: Obj, pods: list[Obj], node: Callable[[str], Obj | None],
                      address_type: str) -> DesiredEndpoints:
    """Group the endpoints of ``pods`` by their resolved ports. A pod on a Node the cache
    does not know is skipped (and reported, so the Service is retried) unless not-ready
    addresses are published."""
    desired = DesiredEndpoints()
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    ns, name = meta(service).get("namespace"), meta(service).get("name")
    for pod in pods:
        # Terminating pods stay, with the terminating condition set.
        if not should_pod_be_in_endpoints(pod, True):
            continue
        key = ports_key(endpoint_ports(service, pod))
        group = desired.by_ports.setdefault(key, {})
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        found = node(node_name) if node_name else None
        if found is None and not publish:
            desired.errors.append(f"skipping Pod {meta(pod).get('name')} for Service "
                                  f"{ns}/{name}: Node {node_name} Not Found")
            continue
        endpoint = pod_endpoint(pod, found, service, address_type)
        if endpoint["addresses"]:
            group[endpoint_key(endpoint)] = endpoint
    return desired


def endpoints_equal_beyond_key(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two endpoints with the same key also agree on node, zone, conditions and
    target (ignoring the target's resourceVersion)."""
    if a.get("nodeName") != b.get("nodeName") or a.get("zone") != b.get("zone"):
        return False
    ca, cb = a.get("conditions") or {}, b.get("conditions") or {}
    if any(ca.get(c) != cb.get(c) for c in ("ready", "serving", "terminating")):
        return False
    ra = {k: v for k, v in (a.get("targetRef") or {}).items() if k != "resourceVersion"}
    rb = {k: v for k, v in (b.get("targetRef") or {}).items() if k != "resourceVersion"}
    return ra == rb
