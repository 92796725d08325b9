"""PodTopologySpread's system default constraints (upstream ``DefaultingType: System``): a
pod that declares no ``topologySpreadConstraints`` is still spread softly across nodes and
zones, among the pods that share its Services and its controller.

Who counts as a sibling (upstream ``helper.DefaultSelector``): the labels of every Service
in the pod's namespace whose selector matches the pod, merged with the selector of the
pod's controller when that is a ReplicationController (a label map), plus the requirements
of its ReplicaSet's or StatefulSet's label selector. A pod with none of these (no Service,
no such controller) gets no default constraints. Looked up per scheduling cycle, as
upstream does, from the scheduler's informers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubesmith.api.selectors import (
    EVERYTHING,
    LabelSelector,
    Requirement,
    SelectorError,
    label_selector_from_object,
    label_selector_from_set,
)
from kubesmith.api.types import Obj
from kubesmith.scheduler.handle import NAMESPACE_INDEX, Listers
from kubesmith.scheduler.podinfo import PodInfo, SpreadConstraint

HOSTNAME_LABEL = "kubernetes.io/hostname"
ZONE_LABEL = "topology.kubernetes.io/zone"

#: (topology key, maxSkew) of upstream's system defaults, both ``ScheduleAnyway``.
SYSTEM_DEFAULT_CONSTRAINTS: tuple[tuple[str, int], ...] = ((HOSTNAME_LABEL, 3), (ZONE_LABEL, 5))

_RC = ("v1", "ReplicationController")
_RS = ("apps/v1", "ReplicaSet")
_SS = ("apps/v1", "StatefulSet")


def controller_reference(pod: Obj) -> Mapping[str, Any] | None:
    """The pod's ownerReference marked ``controller: true``, if any."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            found: Mapping[str, Any] = ref
            return found
    return None


def sibling_selector(pod: PodInfo, listers: Listers) -> LabelSelector:
    """The selector of the pods ``pod`` is spread against (see the module docstring);
    empty when nothing groups it with others."""
    label_set: dict[str, str] = {}
    for service in listers.services.by_index(NAMESPACE_INDEX, pod.namespace):
        selector = (service.get("spec") or {}).get("selector")
        if selector is None:
            continue  # a Service without a selector selects no pod
        if label_selector_from_set(selector).matches(pod.labels):
            label_set.update(selector)
    requirements: list[Requirement] = [*label_selector_from_set(label_set).requirements]
    owner = controller_reference(pod.pod)
    if owner is None:
        return LabelSelector(requirements) if requirements else EVERYTHING
    kind = (str(owner.get("apiVersion") or ""), str(owner.get("kind") or ""))
    key = f"{pod.namespace}/{owner.get('name') or ''}"
    if kind == _RC:
        rc = listers.replication_controllers.get(key)
        if rc is not None:
            label_set.update((rc.get("spec") or {}).get("selector") or {})
            requirements = [*label_selector_from_set(label_set).requirements]
    elif kind in (_RS, _SS):
        lister = listers.replica_sets if kind == _RS else listers.stateful_sets
        workload = lister.get(key)
        if workload is not None:
            try:
                other = label_selector_from_object((workload.get("spec") or {}).get("selector"))
            except SelectorError:
                other = None
            if other is not None and not other.matches_nothing:
                requirements.extend(other.requirements)
    return LabelSelector(requirements)


def default_constraints(pod: PodInfo, listers: Listers) -> tuple[SpreadConstraint, ...]:
    """The system default constraints for a pod without constraints of its own: none when
    the pod has its own, or when nothing groups it with other pods."""
    if pod.spread_constraints:
        return ()
    selector = sibling_selector(pod, listers)
    if selector.empty:
        return ()
    return tuple(SpreadConstraint(max_skew=max_skew, topology_key=key, hard=False,
                                  selector=selector, min_domains=1, honor_node_affinity=True,
                                  honor_node_taints=False)
                 for key, max_skew in SYSTEM_DEFAULT_CONSTRAINTS)
