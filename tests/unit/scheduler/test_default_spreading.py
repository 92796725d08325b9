"""PodTopologySpread's system default constraints (hostname maxSkew 3, zone maxSkew 5,
ScheduleAnyway, among the pods of the same Services and controller) and the
zone-interleaved node order that percentageOfNodesToScore samples from."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from kubesmith.api.selectors import LabelSelector
from kubesmith.scheduler.cache import SchedulerCache, zone_key
from kubesmith.scheduler.framework import CycleState
from kubesmith.scheduler.handle import Listers, StaticLister
from kubesmith.scheduler.plugins.pod_topology_spread import PodTopologySpread
from kubesmith.scheduler.podinfo import PodInfo
from kubesmith.scheduler.spreading import default_constraints, sibling_selector
from tests.unit.scheduler.scheduler_fixtures import node, place, pod, scheduler

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"


def owned(obj: dict[str, Any], kind: str, name: str, api_version: str = "apps/v1"
          ) -> dict[str, Any]:
    obj["metadata"]["ownerReferences"] = [{"apiVersion": api_version, "kind": kind,
                                           "name": name, "uid": f"uid-{name}",
                                           "controller": True}]
    return obj


def workload(kind: str, name: str, selector: Any, api_version: str = "apps/v1",
             namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector}}


def service(name: str, selector: dict[str, str] | None, namespace: str = "default"
            ) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": [{"port": 80}]}
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def selector_text(selector: LabelSelector) -> str:
    return str(selector)


# -- who the siblings are ------------------------------------------------------------------


def test_selector_merges_matching_services_and_the_replicaset() -> None:
    listers = Listers(
        services=StaticLister([service("web", {"app": "web"}), service("tier", {"tier": "fe"}),
                               service("other", {"app": "db"}), service("external", None),
                               service("elsewhere", {"app": "web"}, namespace="other")]),
        replica_sets=StaticLister([workload("ReplicaSet", "web-1", {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "pod-template-hash", "operator": "In",
                                  "values": ["1"]}]})]))
    p = owned(pod("w", labels={"app": "web", "tier": "fe", "pod-template-hash": "1"}),
              "ReplicaSet", "web-1")
    # Services "other" (no match), "external" (no selector: selects nothing) and the one
    # in another namespace do not count.
    assert selector_text(sibling_selector(PodInfo(p), listers)) == \
        "app=web,app=web,pod-template-hash in (1),tier=fe"


@pytest.mark.parametrize(("kind", "api_version", "lister"), [
    ("ReplicationController", "v1", "replication_controllers"),
    ("StatefulSet", "apps/v1", "stateful_sets"),
])
def test_selector_of_other_controllers(kind: str, api_version: str, lister: str) -> None:
    selector: Any = {"app": "db"} if kind == "ReplicationController" else \
        {"matchLabels": {"app": "db"}}
    listers = Listers(**{lister: StaticLister([workload(kind, "db", selector, api_version)])})
    p = owned(pod("d", labels={"app": "db"}), kind, "db", api_version)
    assert selector_text(sibling_selector(PodInfo(p), listers)) == "app=db"


def test_no_default_constraints_without_siblings_or_with_own_constraints() -> None:
    listers = Listers(services=StaticLister([service("web", {"app": "web"})]))
    # Owned by something the defaults do not know (a Job), no Service: nothing.
    lone = owned(pod("j", labels={"job": "x"}), "Job", "x", "batch/v1")
    assert default_constraints(PodInfo(lone), listers) == ()
    # The owner is not (yet) in the cache: nothing either.
    assert default_constraints(PodInfo(owned(pod("r"), "ReplicaSet", "gone")), listers) == ()
    own = pod("w", labels={"app": "web"}, topologySpreadConstraints=[{
        "maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "web"}}}])
    assert default_constraints(PodInfo(own), listers) == ()
    grouped = default_constraints(PodInfo(pod("w", labels={"app": "web"})), listers)
    assert [(c.topology_key, c.max_skew, c.hard) for c in grouped] == \
        [(HOST, 3, False), (ZONE, 5, False)]


# -- decisions ---------------------------------------------------------------------------------


def _replicas(nodes: list[dict[str, Any]], count: int, seed: int, *, grouped: bool
              ) -> Counter[str]:
    rs = workload("ReplicaSet", "web-1", {"matchLabels": {"app": "web"}})
    s = scheduler(nodes, listers=Listers(pods=StaticLister(), replica_sets=StaticLister([rs])),
                  seed=seed)
    placed: Counter[str] = Counter()
    for i in range(count):
        p = pod(f"web-{i}", labels={"app": "web"})
        placed[place(s, owned(p, "ReplicaSet", "web-1") if grouped else p)] += 1
    return placed


def _two_zones() -> list[dict[str, Any]]:
    return [node(f"{z}{i}", cpu="8", memory="32Gi", labels={ZONE: z})
            for z in ("a", "b") for i in range(2)]


def test_replicas_spread_evenly_over_zones_and_nodes() -> None:
    for seed in range(10):
        placed = _replicas(_two_zones(), 8, seed, grouped=True)
        assert sorted(placed.values()) == [2, 2, 2, 2], (seed, placed)
    # The same pods without a controller: best-effort pods score the same on a node with
    # one or two of them (integer resource scores), so random tie-breaking piles them up.
    uneven = [seed for seed in range(10)
              if sorted(_replicas(_two_zones(), 8, seed, grouped=False).values()) != [2] * 4]
    assert len(uneven) >= 8


def test_the_zone_with_fewer_nodes_gets_more_than_its_share() -> None:
    nodes = [node(f"a{i}", cpu="8", memory="32Gi", labels={ZONE: "a"}) for i in range(3)] + \
        [node("b0", cpu="8", memory="32Gi", labels={ZONE: "b"})]
    placed = _replicas(nodes, 8, seed=3, grouped=True)
    assert placed["b0"] == 3  # 2 of 8 by node count; zone spreading pulls a third there


def test_nodes_without_a_zone_are_still_spread_by_hostname() -> None:
    listers = Listers(services=StaticLister([service("web", {"app": "web"})]))
    s = scheduler([node("x1"), node("x2")], [pod("e", node_name="x1", labels={"app": "web"})],
                  listers=listers)
    plugin = s.framework.plugin(PodTopologySpread.name)
    assert isinstance(plugin, PodTopologySpread)
    info, state = PodInfo(pod("w", labels={"app": "web"})), CycleState()
    nodes = s.cache.node_list
    assert plugin.pre_score(state, info, nodes) is None
    scores = plugin.score_nodes(state, info, nodes)
    plugin.normalize(state, info, scores)
    # Raw: x1 = 1 sibling * ln(2 + 2) + (3 - 1) = 3, x2 = 2; the zone constraint adds
    # nothing to nodes without the label but does not make them ignored (score 0) as it
    # would for the pod's own constraints. Normalized: 100 * (3 + 2 - s) / 3.
    assert dict(zip([n.name for n in nodes], scores, strict=True)) == {"x1": 66, "x2": 100}


# -- zone-interleaved node order -------------------------------------------------------------


def test_zone_key_prefers_the_beta_labels() -> None:
    assert zone_key({}) == ""
    assert zone_key({ZONE: "a"}) == ":\x00:a"
    assert zone_key({"failure-domain.beta.kubernetes.io/zone": "old", ZONE: "a",
                     "topology.kubernetes.io/region": "r"}) == "r:\x00:old"


def test_node_list_interleaves_zones_and_follows_changes() -> None:
    cache = SchedulerCache()
    for name, zone in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c"),
                       ("b2", "b")):
        cache.add_node(node(name, labels={ZONE: zone}))
    assert [n.name for n in cache.node_list] == ["a1", "b1", "c1", "a2", "b2", "a3"]
    cache.update_node(node("a1", labels={ZONE: "c"}))  # moves to the end of zone c
    cache.remove_node("b1")
    assert [n.name for n in cache.node_list] == ["a2", "b2", "c1", "a3", "a1"]
    cache.remove_node("b2")  # zone b is gone
    assert [n.name for n in cache.node_list] == ["a2", "c1", "a3", "a1"]


def test_sampled_nodes_span_the_zones() -> None:
    # 300 nodes added zone by zone; with percentageOfNodesToScore 10 a cycle looks for 100
    # feasible ones (the minimum), which in join order would all be zone a's.
    nodes = [node(f"{z}{i:03d}", labels={ZONE: z}) for z in ("a", "b", "c") for i in range(100)]
    s = scheduler(nodes, percentage=10)
    feasible, _ = s.framework.find_feasible_nodes(CycleState(), PodInfo(pod("p", "100m")),
                                                  s.cache.node_list)
    assert len(feasible) == 100
    zones = Counter(n.name[0] for n in feasible)
    assert max(zones.values()) - min(zones.values()) <= 1 and len(zones) == 3
