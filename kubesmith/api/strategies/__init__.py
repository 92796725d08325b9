"""Per-resource strategies, chosen by (group, kind)."""

from __future__ import annotations

from kubesmith.api.resource_types import ResourceType
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.strategies.certificates import CertificateSigningRequestStrategy
from kubesmith.api.strategies.crds import CustomResourceDefinitionStrategy
from kubesmith.api.strategies.daemonsets import DaemonSetStrategy
from kubesmith.api.strategies.endpointslices import EndpointSliceStrategy
from kubesmith.api.strategies.jobs import JobStrategy
from kubesmith.api.strategies.namespaces import NamespaceStrategy
from kubesmith.api.strategies.nodes import NodeStrategy
from kubesmith.api.strategies.pods import PodStrategy
from kubesmith.api.strategies.services import ServiceStrategy
from kubesmith.api.validation import DEFAULT_NODE_PORT_RANGE

_BY_KIND: dict[tuple[str, str], type[Strategy]] = {
    ("", "Namespace"): NamespaceStrategy,
    ("", "Pod"): PodStrategy,
    ("", "Node"): NodeStrategy,
    ("apps", "DaemonSet"): DaemonSetStrategy,
    ("discovery.k8s.io", "EndpointSlice"): EndpointSliceStrategy,
    ("batch", "Job"): JobStrategy,
    ("", "Service"): ServiceStrategy,
    ("certificates.k8s.io", "CertificateSigningRequest"): CertificateSigningRequestStrategy,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): CustomResourceDefinitionStrategy,
}


def strategy_for(rt: ResourceType,
                 node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE) -> Strategy:
    return _BY_KIND.get((rt.group, rt.kind), Strategy)(rt, node_port_range)
