"""The in-tree plugins and the default profile (upstream's ``plugins/registry.go`` and
the v1 default plugin set), one module per plugin.

:func:`default_plugins` lists them in upstream's order, which is also the order their
Filters run in — so a node rejected for two reasons is counted under the first, exactly
as in kube-scheduler's messages. :data:`DEFAULT_WEIGHTS` are upstream's score weights and
:data:`EVENTS` the cluster events that may make a pod rejected by a plugin schedulable
(the scheduling queue moves pods on them).
"""

from __future__ import annotations

from kubesmith.scheduler import queue as q
from kubesmith.scheduler.framework import Plugin
from kubesmith.scheduler.handle import Handle
from kubesmith.scheduler.plugins.balanced_allocation import BalancedAllocation
from kubesmith.scheduler.plugins.default_binder import DefaultBinder
from kubesmith.scheduler.plugins.default_preemption import DefaultPreemption
from kubesmith.scheduler.plugins.image_locality import ImageLocality
from kubesmith.scheduler.plugins.inter_pod_affinity import InterPodAffinity
from kubesmith.scheduler.plugins.node_affinity import NodeAffinity
from kubesmith.scheduler.plugins.node_name import NodeName
from kubesmith.scheduler.plugins.node_ports import NodePorts
from kubesmith.scheduler.plugins.node_resources_fit import LEAST_ALLOCATED, NodeResourcesFit
from kubesmith.scheduler.plugins.node_unschedulable import NodeUnschedulable
from kubesmith.scheduler.plugins.pod_topology_spread import PodTopologySpread
from kubesmith.scheduler.plugins.taint_toleration import TaintToleration
from kubesmith.scheduler.plugins.volume_binding import VolumeBinding

DEFAULT_WEIGHTS: dict[str, int] = {
    TaintToleration.name: 3,
    NodeAffinity.name: 2,
    NodeResourcesFit.name: 1,
    PodTopologySpread.name: 2,
    InterPodAffinity.name: 2,
    BalancedAllocation.name: 1,
    ImageLocality.name: 1,
}

_NODE_CHANGES = (q.NODE_ADD, q.NODE_UPDATE)
_POD_CHANGES = (q.ASSIGNED_POD_ADD, q.ASSIGNED_POD_UPDATE, q.ASSIGNED_POD_DELETE)

EVENTS: dict[str, tuple[str, ...]] = {
    NodeUnschedulable.name: _NODE_CHANGES,
    NodeName.name: (q.NODE_ADD,),
    TaintToleration.name: _NODE_CHANGES,
    NodeAffinity.name: _NODE_CHANGES,
    NodePorts.name: (q.NODE_ADD, q.ASSIGNED_POD_DELETE),
    NodeResourcesFit.name: (*_NODE_CHANGES, q.ASSIGNED_POD_DELETE, q.ASSIGNED_POD_UPDATE),
    VolumeBinding.name: (*_NODE_CHANGES, q.PVC_CHANGE, q.PV_CHANGE, q.STORAGE_CLASS_CHANGE),
    PodTopologySpread.name: (*_NODE_CHANGES, *_POD_CHANGES),
    InterPodAffinity.name: (*_NODE_CHANGES, *_POD_CHANGES, q.NAMESPACE_CHANGE),
}


def default_plugins(handle: Handle, *, scoring_strategy: str = LEAST_ALLOCATED
                    ) -> list[Plugin]:
    """The default profile's plugins, in upstream's order."""
    return [
        NodeUnschedulable(handle),
        NodeName(),
        TaintToleration(handle),
        NodeAffinity(),
        NodePorts(),
        NodeResourcesFit(scoring_strategy),
        VolumeBinding(handle),
        PodTopologySpread(handle),
        InterPodAffinity(handle),
        DefaultPreemption(handle),
        BalancedAllocation(),
        ImageLocality(handle),
        DefaultBinder(handle),
    ]
