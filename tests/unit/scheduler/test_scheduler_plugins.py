"""Each plugin's decisions and upstream wording, through the framework over a cache built
from plain objects."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.scheduler.framework import CycleState
from kubesmith.scheduler.handle import Listers, StaticLister
from kubesmith.scheduler.podinfo import PodInfo
from tests.unit.scheduler.scheduler_fixtures import decide, node, place, pod, scheduler

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"


# -- NodeResourcesFit --------------------------------------------------------------------


def test_fit_reports_every_missing_resource() -> None:
    s = scheduler([node("a", cpu="1", memory="1Gi", pods="1", extra={"example.com/gpu": "1"})],
                  [pod("old", "100m", node_name="a")])
    p = pod("p", "2", "2Gi")
    p["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "2"
    assert decide(s, p) == ("0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient "
                            "example.com/gpu, 1 Insufficient memory, 1 Too many pods.")


def test_fit_extended_resource_absent_from_node() -> None:
    s = scheduler([node("a"), node("b", extra={"example.com/gpu": "4"})])
    p = pod("p", "1")
    p["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "1"
    assert decide(s, p) == "b"


def test_fit_counts_init_container_maximum() -> None:
    s = scheduler([node("a", cpu="2")])
    p = pod("p", "500m", initContainers=[
        {"name": "i", "image": "x", "resources": {"requests": {"cpu": "3"}}}])
    assert decide(s, p) == "0/1 nodes are available: 1 Insufficient cpu."


def test_zero_request_pod_fits_a_full_node() -> None:
    s = scheduler([node("a", cpu="1")], [pod("old", "1", node_name="a")])
    assert decide(s, pod("p")) == "a"


# -- NodeAffinity --------------------------------------------------------------------------


def _required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}


@pytest.mark.parametrize(("expr", "expected"), [
    ({"key": "disk", "operator": "In", "values": ["ssd"]}, "b"),
    ({"key": "disk", "operator": "NotIn", "values": ["ssd", "nvme"]}, "a"),
    ({"key": "disk", "operator": "DoesNotExist"}, "a"),
    ({"key": "cores", "operator": "Gt", "values": ["8"]}, "c"),
    ({"key": "cores", "operator": "Lt", "values": ["8"]}, "b"),
])
def test_required_node_affinity_operators(expr: dict[str, Any], expected: str) -> None:
    s = scheduler([node("a"), node("b", labels={"disk": "ssd", "cores": "4"}),
                   node("c", labels={"disk": "nvme", "cores": "16"})])
    assert decide(s, pod("p", affinity=_required({"matchExpressions": [expr]}))) == expected


def test_node_affinity_terms_are_ored_and_match_fields_narrow_the_nodes() -> None:
    s = scheduler([node(n) for n in "abc"])
    affinity = _required({"matchFields": [{"key": "metadata.name", "operator": "In",
                                           "values": ["c"]}]})
    state = CycleState()
    allowed, status = s.framework.run_pre_filter(state, PodInfo(pod("p", affinity=affinity)),
                                                 s.cache.node_list)
    assert status is None and allowed == frozenset({"c"})
    assert decide(s, pod("p", affinity=affinity)) == "c"
    either = _required({"matchExpressions": [{"key": HOST, "operator": "In", "values": ["a"]}]},
                       {"matchFields": [{"key": "metadata.name", "operator": "In",
                                         "values": ["b"]}]})
    assert decide(s, pod("q", affinity=either)) in ("a", "b")


def test_node_affinity_to_a_missing_node_explains_the_other_nodes() -> None:
    s = scheduler([node(n) for n in "ab"])
    affinity = _required({"matchFields": [{"key": "metadata.name", "operator": "In",
                                           "values": ["gone"]}]})
    assert decide(s, pod("p", affinity=affinity)) == (
        "0/2 nodes are available: 2 node(s) didn't satisfy plugin(s) [NodeAffinity].")


def test_empty_node_selector_term_matches_nothing() -> None:
    s = scheduler([node("a")])
    assert decide(s, pod("p", affinity=_required({}))) == \
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."


def test_preferred_node_affinity_scores() -> None:
    s = scheduler([node("a"), node("b", labels={"tier": "gold"})])
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["gold"]}]}}]}}
    assert {decide(s, pod(f"p{i}", affinity=affinity)) for i in range(5)} == {"b"}


# -- TaintToleration and NodeUnschedulable ------------------------------------------------------


def test_untolerated_taint_and_tolerations() -> None:
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    s = scheduler([node("a", taints=[taint])])
    assert decide(s, pod("p")) == \
        "0/1 nodes are available: 1 node(s) had untolerated taint(s)."
    for toleration in ({"key": "dedicated", "operator": "Equal", "value": "db"},
                       {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"},
                       {"operator": "Exists"}):
        assert decide(s, pod("p", tolerations=[toleration])) == "a"
    wrong = {"key": "dedicated", "operator": "Equal", "value": "web"}
    assert decide(s, pod("p", tolerations=[wrong])).endswith("had untolerated taint(s).")


def test_prefer_no_schedule_taints_lower_the_score() -> None:
    soft = {"key": "spot", "value": "", "effect": "PreferNoSchedule"}
    s = scheduler([node("a", taints=[soft]), node("b")])
    assert {decide(s, pod(f"p{i}", "100m")) for i in range(5)} == {"b"}


def test_cordoned_node() -> None:
    s = scheduler([node("a", unschedulable=True)])
    assert decide(s, pod("p")) == "0/1 nodes are available: 1 node(s) were unschedulable."
    tolerate = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                "effect": "NoSchedule"}
    assert decide(s, pod("p", tolerations=[tolerate])) == "a"


# -- NodePorts -------------------------------------------------------------------------------


def _port(host_port: int, ip: str | None = None, protocol: str = "TCP") -> dict[str, Any]:
    port: dict[str, Any] = {"containerPort": 80, "hostPort": host_port, "protocol": protocol}
    if ip:
        port["hostIP"] = ip
    return port


@pytest.mark.parametrize(("used", "wanted", "conflict"), [
    (_port(8080), _port(8080), True),
    (_port(8080), _port(8081), False),
    (_port(8080), _port(8080, protocol="UDP"), False),
    (_port(8080, "10.0.0.1"), _port(8080, "10.0.0.2"), False),
    (_port(8080, "10.0.0.1"), _port(8080), True),  # 0.0.0.0 covers every address
    (_port(8080), _port(8080, "10.0.0.2"), True),
])
def test_host_port_conflicts(used: dict[str, Any], wanted: dict[str, Any],
                             conflict: bool) -> None:
    old = pod("old", node_name="a")
    old["spec"]["containers"][0]["ports"] = [used]
    s = scheduler([node("a")], [old])
    new = pod("new")
    new["spec"]["containers"][0]["ports"] = [wanted]
    expected = ("0/1 nodes are available: 1 node(s) didn't have free ports for the "
                "requested pod ports.") if conflict else "a"
    assert decide(s, new) == expected


# -- InterPodAffinity ------------------------------------------------------------------------


def _term(labels: dict[str, str], key: str, **extra: Any) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key, **extra}


def _zoned() -> list[dict[str, Any]]:
    return [node("a1", labels={ZONE: "a"}), node("a2", labels={ZONE: "a"}),
            node("b1", labels={ZONE: "b"})]


def test_required_pod_affinity_follows_the_zone() -> None:
    s = scheduler(_zoned(), [pod("db", node_name="a2", labels={"app": "db"})])
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "db"}, ZONE)]}}
    assert {decide(s, pod(f"w{i}", affinity=affinity)) for i in range(6)} <= {"a1", "a2"}
    lonely = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "cache"}, ZONE)]}}
    assert decide(s, pod("w", affinity=lonely)) == \
        "0/3 nodes are available: 3 node(s) didn't match pod affinity rules."


def test_first_pod_of_a_self_affine_group_may_go_anywhere() -> None:
    s = scheduler(_zoned())
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "web"}, ZONE)]}}
    first = place(s, pod("w0", labels={"app": "web"}, affinity=affinity))
    zone = "b" if first == "b1" else "a"
    for i in range(1, 5):
        placed = place(s, pod(f"w{i}", labels={"app": "web"}, affinity=affinity))
        assert placed.startswith(zone)


def test_required_anti_affinity_spreads_over_hosts() -> None:
    s = scheduler([node(n) for n in "abc"])
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "web"}, HOST)]}}
    placed = {place(s, pod(f"w{i}", labels={"app": "web"}, affinity=anti)) for i in range(3)}
    assert placed == {"a", "b", "c"}
    # The existing replicas' own anti-affinity is checked first (upstream's order).
    assert decide(s, pod("w3", labels={"app": "web"}, affinity=anti)) == \
        "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules."
    # A pod the existing ones do not repel meets only its own rule.
    assert decide(s, pod("x", labels={"app": "other"}, affinity={
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            _term({"app": "web"}, HOST)]}})) == \
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."


def test_existing_pods_anti_affinity_keeps_new_pods_away() -> None:
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"team": "noisy"}, ZONE)]}}
    s = scheduler(_zoned(), [pod("loner", node_name="b1", affinity=anti)])
    assert decide(s, pod("n", labels={"team": "noisy"})) in ("a1", "a2")
    assert decide(s, pod("q", labels={"team": "quiet"})) in ("a1", "a2", "b1")
    s = scheduler([node("b1", labels={ZONE: "b"})],
                  [pod("loner", node_name="b1", affinity=anti)])
    assert decide(s, pod("n", labels={"team": "noisy"})) == \
        "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."


def test_affinity_namespaces_and_namespace_selector() -> None:
    namespaces = StaticLister([
        {"metadata": {"name": "prod", "labels": {"env": "prod"}}},
        {"metadata": {"name": "dev", "labels": {"env": "dev"}}}])
    nodes = _zoned()
    existing = [pod("db", namespace="prod", node_name="b1", labels={"app": "db"})]
    same_ns = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "db"}, ZONE)]}}
    by_selector = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "db"}, ZONE, namespaceSelector={"matchLabels": {"env": "prod"}})]}}
    by_list = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        _term({"app": "db"}, ZONE, namespaces=["prod"])]}}
    s = scheduler(nodes, existing, listers=Listers(namespaces=namespaces))
    # In its own namespace (dev) the db pod is not seen.
    assert decide(s, pod("w", namespace="dev", affinity=same_ns)).startswith("0/3")
    assert decide(s, pod("w", namespace="dev", affinity=by_selector)) == "b1"
    assert decide(s, pod("w", namespace="dev", affinity=by_list)) == "b1"


def test_preferred_pod_affinity_scores() -> None:
    s = scheduler(_zoned(), [pod("db", node_name="b1", labels={"app": "db"})])
    affinity = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": _term({"app": "db"}, ZONE)}]}}
    assert decide(s, pod("w", affinity=affinity)) == "b1"
    anti = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": _term({"app": "db"}, ZONE)}]}}
    assert decide(s, pod("w", affinity=anti)) in ("a1", "a2")


# -- PodTopologySpread -----------------------------------------------------------------------


def _spread(key: str, max_skew: int = 1, hard: bool = True, **extra: Any
            ) -> dict[str, Any]:
    return {"maxSkew": max_skew, "topologyKey": key,
            "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "web"}}, **extra}


def test_hard_spread_across_zones() -> None:
    s = scheduler(_zoned())
    placed = [place(s, pod(f"w{i}", labels={"app": "web"},
                           topologySpreadConstraints=[_spread(ZONE)])) for i in range(4)]
    zones = [p[0] for p in placed]
    assert zones.count("a") == 2 and zones.count("b") == 2


def test_hard_spread_rejects_skew_and_missing_labels() -> None:
    existing = [pod(f"e{i}", node_name="a1", labels={"app": "web"}) for i in range(2)]
    s = scheduler([node("a1", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"}),
                   node("x")], existing)
    p = pod("w", labels={"app": "web"}, topologySpreadConstraints=[_spread(ZONE)])
    assert decide(s, p) == "b1"
    # Zone b's only node is tainted: the zone still counts (nodeTaintsPolicy Ignore), so
    # zone a is at skew 3.
    tainted = node("b1", labels={ZONE: "b"}, taints=[{"key": "k", "effect": "NoSchedule"}])
    s = scheduler([node("a1", labels={ZONE: "a"}), tainted, node("x")], existing)
    assert decide(s, p) == (
        "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints, "
        "1 node(s) didn't match pod topology spread constraints (missing required label), "
        "1 node(s) had untolerated taint(s).")
    honor = pod("w", labels={"app": "web"},
                topologySpreadConstraints=[_spread(ZONE, nodeTaintsPolicy="Honor")])
    assert decide(s, honor) == "a1"


def test_min_domains_treats_missing_domains_as_empty() -> None:
    existing = [pod("e0", node_name="a1", labels={"app": "web"})]
    s = scheduler([node("a1", labels={ZONE: "a"})], existing)
    p = pod("w", labels={"app": "web"},
            topologySpreadConstraints=[_spread(ZONE, minDomains=2)])
    # One zone exists but two are wanted: the global minimum counts as 0, skew 2 > 1.
    assert decide(s, p).endswith("didn't match pod topology spread constraints.")
    relaxed = pod("w", labels={"app": "web"}, topologySpreadConstraints=[_spread(ZONE)])
    assert decide(s, relaxed) == "a1"


def test_soft_spread_prefers_the_emptier_domain() -> None:
    existing = [pod(f"e{i}", "100m", node_name="a1", labels={"app": "web"}) for i in range(3)]
    s = scheduler(_zoned(), existing)
    p = pod("w", "100m", labels={"app": "web"},
            topologySpreadConstraints=[_spread(ZONE, hard=False)])
    assert decide(s, p) == "b1"


# -- VolumeBinding ---------------------------------------------------------------------------


def _pvc(name: str, *, storage_class: str = "local", volume: str | None = None
         ) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                            "resources": {"requests": {"storage": "1Gi"}}}
    if volume:
        spec["volumeName"] = volume
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": spec, "status": {"phase": "Bound" if volume else "Pending"}}


def _pv(name: str, host: str, *, claim: str | None = None, size: str = "5Gi"
        ) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
        "storageClassName": "local",
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": HOST, "operator": "In", "values": [host]}]}]}}}
    if claim:
        spec["claimRef"] = {"namespace": "default", "name": claim}
    return {"metadata": {"name": name}, "spec": spec}


def _class(name: str, mode: str, provisioner: str = "kubernetes.io/no-provisioner"
           ) -> dict[str, Any]:
    return {"metadata": {"name": name}, "provisioner": provisioner,
            "volumeBindingMode": mode}


def _volume_pod(claim: str) -> dict[str, Any]:
    return pod("p", volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim}}])


def _storage(pvcs: list[dict[str, Any]], pvs: list[dict[str, Any]],
             classes: list[dict[str, Any]]) -> Listers:
    return Listers(pvcs=StaticLister(pvcs), pvs=StaticLister(pvs),
                   storage_classes=StaticLister(classes))


def test_bound_local_volume_pins_the_node() -> None:
    listers = _storage([_pvc("data", volume="pv-b")], [_pv("pv-b", "b", claim="data")],
                       [_class("local", "WaitForFirstConsumer")])
    s = scheduler([node(n) for n in "abc"], listers=listers)
    assert decide(s, _volume_pod("data")) == "b"
    s.on_node_delete(node("b"))
    assert decide(s, _volume_pod("data")) == \
        "0/2 nodes are available: 2 node(s) had volume node affinity conflict."


def test_claims_not_found_unbound_immediate_and_missing_volume() -> None:
    s = scheduler([node("a")], listers=_storage([], [], []))
    assert decide(s, _volume_pod("nope")) == \
        '0/1 nodes are available: persistentvolumeclaim "nope" not found.'
    s = scheduler([node("a")], listers=_storage([_pvc("data", storage_class="fast")], [],
                                                [_class("fast", "Immediate", "x.io/csi")]))
    assert decide(s, _volume_pod("data")) == \
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    s = scheduler([node("a")], listers=_storage([_pvc("data", volume="gone")], [], []))
    assert decide(s, _volume_pod("data")) == ("0/1 nodes are available: 1 node(s) "
                                              "unavailable due to one or more pvc(s) bound "
                                              "to non-existent pv(s).")


def test_wait_for_first_consumer_picks_a_node_with_a_matching_volume() -> None:
    listers = _storage([_pvc("data")], [_pv("pv-c", "c"), _pv("small", "a", size="100Mi")],
                       [_class("local", "WaitForFirstConsumer")])
    s = scheduler([node(n) for n in "abc"], listers=listers)
    assert decide(s, _volume_pod("data")) == "c"
    listers = _storage([_pvc("data")], [], [_class("local", "WaitForFirstConsumer")])
    s = scheduler([node(n) for n in "ab"], listers=listers)
    assert decide(s, _volume_pod("data")) == ("0/2 nodes are available: 2 node(s) didn't "
                                              "find available persistent volumes to bind.")


def test_wait_for_first_consumer_with_a_provisioner_and_allowed_topologies() -> None:
    sc = _class("local", "WaitForFirstConsumer", "rancher.io/local-path")
    sc["allowedTopologies"] = [{"matchLabelExpressions": [
        {"key": ZONE, "values": ["b"]}]}]
    s = scheduler(_zoned(), listers=_storage([_pvc("data")], [], [sc]))
    assert decide(s, _volume_pod("data")) == "b1"


# -- DefaultPreemption ------------------------------------------------------------------------


async def test_preemption_picks_the_node_with_the_least_important_victims() -> None:
    existing = [pod("a-low", "1500m", node_name="a", priority=1),
                pod("b-mid", "1500m", node_name="b", priority=5),
                pod("c-high", "1500m", node_name="c", priority=100)]
    s = scheduler([node(n, cpu="2") for n in "abc"], existing)
    preemptor = PodInfo(pod("vip", "1", priority=10))
    plugin = s.framework.post_filter_plugins[0]
    from kubesmith.scheduler.plugins.default_preemption import DefaultPreemption, pick_one_node

    assert isinstance(plugin, DefaultPreemption)
    state = CycleState()
    feasible, _ = s.framework.find_feasible_nodes(state, preemptor, s.cache.node_list)
    assert not feasible
    candidates, statuses = plugin.dry_run(state, preemptor, s.cache.node_list, [], offset=0)
    assert sorted(v.node for v in candidates) == ["a", "b"]
    assert statuses["c"].message == "No preemption victims found for incoming pod"
    best = pick_one_node(candidates)
    assert best.node == "a" and [p.name for p in best.pods] == ["a-low"]


def test_preemption_keeps_pods_whose_eviction_is_not_needed() -> None:
    existing = [pod("small", "500m", node_name="a", priority=1),
                pod("big", "1500m", node_name="a", priority=2)]
    s = scheduler([node("a", cpu="2")], existing)
    from kubesmith.scheduler.plugins.default_preemption import DefaultPreemption

    plugin = s.framework.post_filter_plugins[0]
    assert isinstance(plugin, DefaultPreemption)
    info = PodInfo(pod("vip", "1500m", priority=10))
    state = CycleState()
    s.framework.find_feasible_nodes(state, info, s.cache.node_list)
    victims, violations, status = plugin.select_victims(state, info, s.cache.node_list[0], [])
    # Removing both fits; reprieving the more important "big" does not: it is the victim,
    # "small" stays.
    assert status is None and violations == 0
    assert [p.name for p in victims] == ["big"]


def test_preemption_prefers_victims_without_a_pdb() -> None:
    existing = [pod("guarded", "1", node_name="a", priority=1, labels={"app": "db"}),
                pod("free", "1", node_name="b", priority=1, labels={"app": "web"})]
    s = scheduler([node(n, cpu="1") for n in "ab"], existing)
    from kubesmith.scheduler.plugins.default_preemption import (
        DefaultPreemption,
        pick_one_node,
        split_by_pdb_violation,
    )

    pdb = {"metadata": {"name": "db", "namespace": "default"},
           "spec": {"selector": {"matchLabels": {"app": "db"}}},
           "status": {"disruptionsAllowed": 0}}
    guarded = s.cache.pod("default/guarded")
    free = s.cache.pod("default/free")
    assert guarded is not None and free is not None
    assert split_by_pdb_violation([guarded, free], [pdb]) == ([guarded], [free])
    plugin = s.framework.post_filter_plugins[0]
    assert isinstance(plugin, DefaultPreemption)
    info = PodInfo(pod("vip", "1", priority=10))
    state = CycleState()
    s.framework.find_feasible_nodes(state, info, s.cache.node_list)
    candidates, _ = plugin.dry_run(state, info, s.cache.node_list, [pdb], offset=0)
    assert pick_one_node(candidates).node == "b"


async def test_preemption_not_helpful_and_policy_never_messages() -> None:
    s = scheduler([node("a", cpu="1", labels={"x": "y"}), node("b", cpu="1")],
                  [pod("old", "1", node_name="b", priority=100),
                   pod("older", "1", node_name="a", priority=100)])
    info = PodInfo(pod("p", "1", priority=1000, nodeSelector={"x": "nope"}))
    state = CycleState()
    from kubesmith.scheduler.framework import FitError

    with pytest.raises(FitError) as caught:
        s.framework.schedule(state, info, s.cache.node_list)
    nominated = await s.framework.run_post_filter(state, info, caught.value.diagnosis)
    assert nominated is None
    assert str(caught.value) == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
    never = PodInfo(pod("n", "1", priority=1000, preemptionPolicy="Never"))
    state = CycleState()
    with pytest.raises(FitError) as caught:
        s.framework.schedule(state, never, s.cache.node_list)
    await s.framework.run_post_filter(state, never, caught.value.diagnosis)
    assert str(caught.value) == (
        "0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to "
        "preemptionPolicy=Never.")


def test_nominated_pods_hold_their_node() -> None:
    s = scheduler([node("a", cpu="1")])
    vip = PodInfo(pod("vip", "1", priority=100))
    s.queue.add_nominated(vip, "a")
    assert decide(s, pod("low", "1", priority=1)) == \
        "0/1 nodes are available: 1 Insufficient cpu."
    # Equal or higher priority pods are not held back by the nomination.
    assert decide(s, pod("peer", "1", priority=100)) == \
        "0/1 nodes are available: 1 Insufficient cpu."
    assert decide(s, pod("boss", "1", priority=1000)) == "a"
    # The nominated pod itself is not counted against itself.
    assert decide(s, pod("vip", "1", priority=100)) == "a"


# -- ImageLocality ---------------------------------------------------------------------------


def test_image_locality_prefers_nodes_with_the_image() -> None:
    with_image = node("warm")
    with_image["status"]["images"] = [{"names": ["registry.example/app:1.0"],
                                       "sizeBytes": 500 * 1024 * 1024}]
    s = scheduler([node("cold"), with_image])
    p = pod("p", "100m")
    p["spec"]["containers"][0]["image"] = "registry.example/app:1.0"
    assert {decide(s, p) for _ in range(5)} == {"warm"}
    from kubesmith.scheduler.plugins.image_locality import normalized_image_name

    assert normalized_image_name("nginx") == "nginx:latest"
    assert normalized_image_name("localhost:5000/app") == "localhost:5000/app:latest"
    assert normalized_image_name("app@sha256:abc") == "app@sha256:abc"
