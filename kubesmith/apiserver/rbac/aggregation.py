"""ClusterRole aggregation (upstream's clusterrole-aggregation controller).

A ClusterRole with an ``aggregationRule`` gets, as its rules, the union of the rules of
every other ClusterRole matched by any of its ``clusterRoleSelectors``: roles in name
order, each role's rules in order, a rule already present (equal in every field) not
repeated. Aggregated roles can feed others (``view`` → ``edit`` → ``admin``); upstream
gets there over several controller passes, :func:`aggregate` iterates to the fixed point
in one call so a single :func:`reconcile_aggregation` writes the final state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from kubesmith.api.resources import Resources
from kubesmith.api.selectors import LabelSelector, SelectorError, label_selector_from_object
from kubesmith.api.types import Obj
from kubesmith.apiserver.rbac.rules import PolicyRule, parse_rules

log = logging.getLogger(__name__)

RBAC_GROUP = "rbac.authorization.k8s.io"


def _selectors(role: Obj) -> list[LabelSelector] | None:
    """The role's compiled aggregation selectors; None when it is not aggregated."""
    rule = role.get("aggregationRule")
    if not isinstance(rule, dict):
        return None
    out: list[LabelSelector] = []
    for selector in rule.get("clusterRoleSelectors") or []:
        if not isinstance(selector, dict):
            continue
        try:
            out.append(label_selector_from_object(selector))
        except SelectorError:
            continue  # upstream skips a selector it cannot convert
    return out


def _labels(role: Obj) -> dict[str, str]:
    labels = (role.get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def aggregate(clusterroles: Iterable[Obj]) -> dict[str, list[PolicyRule]]:
    """The rules every aggregated ClusterRole among ``clusterroles`` should hold."""
    roles = sorted((r for r in clusterroles if (r.get("metadata") or {}).get("name")),
                   key=lambda r: str(r["metadata"]["name"]))
    names = [str(r["metadata"]["name"]) for r in roles]
    current: dict[str, tuple[PolicyRule, ...]] = {
        name: parse_rules(r.get("rules")) for name, r in zip(names, roles, strict=True)}
    # Which roles each aggregated role draws from never changes between passes.
    sources: dict[str, list[str]] = {}
    for name, role in zip(names, roles, strict=True):
        selectors = _selectors(role)
        if selectors is None:
            continue
        picked: list[str] = []
        for selector in selectors:
            picked += [other for other, candidate in zip(names, roles, strict=True)
                       if other != name and selector.matches(_labels(candidate))]
        sources[name] = picked
    for _ in range(len(sources) + 1):
        changed = False
        for name, picked in sources.items():
            rules: list[PolicyRule] = []
            seen: set[PolicyRule] = set()
            for other in picked:
                for rule in current[other]:
                    if rule not in seen:
                        seen.add(rule)
                        rules.append(rule)
            if tuple(rules) != current[name]:
                current[name] = tuple(rules)
                changed = True
        if not changed:
            break
    return {name: list(current[name]) for name in sources}


async def reconcile_aggregation(resources: Resources) -> list[str]:
    """Write the aggregated rules into every aggregated ClusterRole whose rules differ;
    returns the names of the roles updated."""
    store = resources.for_kind(RBAC_GROUP, "ClusterRole")
    if store is None:
        return []
    await store.cache.wait_consistent()
    objects = [c.obj for c in store.cache.iter_from(None)]
    wanted = aggregate(objects)
    updated: list[str] = []
    for role in objects:
        name = str(role["metadata"]["name"])
        rules = wanted.get(name)
        if rules is None or list(parse_rules(role.get("rules"))) == rules:
            continue
        encoded: list[dict[str, Any]] = [r.to_json() for r in rules]

        def transform(obj: Obj | None, encoded: list[dict[str, Any]] = encoded) -> Obj:
            assert obj is not None
            obj["rules"] = encoded
            return obj

        await store.update(None, name, transform)
        updated.append(name)
    if updated:
        log.info("aggregated ClusterRoles updated: %s", ", ".join(updated))
    return updated
