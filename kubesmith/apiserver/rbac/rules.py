"""RBAC policy rules and how one request is matched against them.

The semantics are upstream's (``RuleAllows`` and the ``rbac/v1`` evaluation helpers):

* a verb matches when the rule lists it or ``"*"``;
* an API group matches when the rule lists it or ``"*"``;
* a resource matches when the rule lists ``"*"``, the exact ``resource`` (or
  ``resource/subresource`` for a subresource request), or ``"*/subresource"`` for a
  request on that subresource of any resource. ``"resource/*"`` is *not* a wildcard
  upstream: it only matches a subresource literally named ``*``;
* ``resourceNames`` empty means every name; otherwise the request's name must be listed,
  so a list, watch, deletecollection or create (which carry no name) never match a rule
  with resource names;
* a non-resource URL matches ``"*"``, the exact path, or a rule ending in ``*`` whose
  prefix starts the path (``/apis/*`` matches ``/apis/apps/v1``; ``/healthz*`` also matches
  ``/healthzfoo``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubesmith.api import gofmt
from kubesmith.apiserver.authz import Attributes

ALL = "*"


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value)


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One ``rbac.authorization.k8s.io/v1`` PolicyRule (lists kept in their given order)."""

    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, rule: Mapping[str, Any]) -> PolicyRule:
        """Parse a rule as stored (missing or non-list fields are empty)."""
        return cls(_strings(rule.get("verbs")), _strings(rule.get("apiGroups")),
                   _strings(rule.get("resources")), _strings(rule.get("resourceNames")),
                   _strings(rule.get("nonResourceURLs")))

    @classmethod
    def build(cls, verbs: Iterable[str], groups: Iterable[str] = (),
              resources: Iterable[str] = (), names: Iterable[str] = (),
              urls: Iterable[str] = ()) -> PolicyRule:
        """A rule with every list sorted, as upstream's ``NewRule(...).RuleOrDie()``."""
        return cls(tuple(sorted(verbs)), tuple(sorted(groups)), tuple(sorted(resources)),
                   tuple(sorted(names)), tuple(sorted(urls)))

    def to_json(self) -> dict[str, Any]:
        """The rule as the API serves it (empty lists omitted, field order as upstream)."""
        out: dict[str, Any] = {"verbs": list(self.verbs)}
        if self.api_groups:
            out["apiGroups"] = list(self.api_groups)
        if self.resources:
            out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
        return out

    def compact_string(self) -> str:
        """Upstream's ``CompactString`` (used in escalation messages):
        ``{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}``."""
        parts = []
        for label, values in (("APIGroups", self.api_groups), ("Resources", self.resources),
                              ("NonResourceURLs", self.non_resource_urls),
                              ("ResourceNames", self.resource_names),
                              ("Verbs", self.verbs)):
            if values:
                parts.append(f"{label}:{go_quote_list(values)}")
        return "{" + ", ".join(parts) + "}"


def go_quote_list(values: Iterable[str]) -> str:
    """A string slice printed with Go's ``%q``: ``["a" "b"]``."""
    return "[" + " ".join(gofmt.quote(v) for v in values) + "]"


def parse_rules(rules: Any) -> tuple[PolicyRule, ...]:
    """The ``rules`` list of a Role or ClusterRole (anything else gives no rules)."""
    if not isinstance(rules, list):
        return ()
    return tuple(PolicyRule.from_json(r) for r in rules if isinstance(r, dict))


def verb_matches(rule: PolicyRule, verb: str) -> bool:
    return verb in rule.verbs or ALL in rule.verbs


def api_group_matches(rule: PolicyRule, group: str) -> bool:
    return group in rule.api_groups or ALL in rule.api_groups


def resource_matches(rule: PolicyRule, combined: str, subresource: str) -> bool:
    """``combined`` is ``resource`` or ``resource/subresource``."""
    for r in rule.resources:
        if r in (ALL, combined):
            return True
        if subresource and r.startswith("*/") and r[2:] == subresource:
            return True
    return False


def resource_name_matches(rule: PolicyRule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def non_resource_url_matches(rule: PolicyRule, path: str) -> bool:
    for url in rule.non_resource_urls:
        if url in (ALL, path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: PolicyRule) -> bool:
    """Whether ``rule`` grants the request described by ``attrs``."""
    if not verb_matches(rule, attrs.verb):
        return False
    if attrs.is_resource:
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource \
            else attrs.resource
        return (api_group_matches(rule, attrs.group)
                and resource_matches(rule, combined, attrs.subresource)
                and resource_name_matches(rule, attrs.name))
    return non_resource_url_matches(rule, attrs.path)


def rules_allow(attrs: Attributes, rules: Iterable[PolicyRule]) -> bool:
    """Whether any of ``rules`` grants the request."""
    return any(rule_allows(attrs, r) for r in rules)


# ---- coverage (escalation checks) --------------------------------------------------------


def breakdown(rule: PolicyRule) -> list[PolicyRule]:
    """``rule`` split into rules of one group, resource, verb and name (or one URL and
    verb), upstream's ``BreakdownRule``."""
    out: list[PolicyRule] = []
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                if rule.resource_names:
                    out.extend(PolicyRule((verb,), (group,), (resource,), (name,))
                               for name in rule.resource_names)
                else:
                    out.append(PolicyRule((verb,), (group,), (resource,)))
    for url in rule.non_resource_urls:
        for verb in rule.verbs:
            out.append(PolicyRule((verb,), non_resource_urls=(url,)))
    return out


def _resources_cover(owner: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    if ALL in owner:
        return True
    for path in wanted:
        if path in owner:
            continue
        if "/" not in path:
            return False
        if "*/" + path.split("/", 1)[1] not in owner:
            return False
    return True


def _urls_cover(owner: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    for path in wanted:
        if not any(o == path or (o.endswith("*") and path.startswith(o.rstrip("*")))
                   for o in owner):
            return False
    return True


def rule_covers(owner: PolicyRule, sub: PolicyRule) -> bool:
    """Whether ``owner`` grants everything the broken-down rule ``sub`` grants."""
    verbs = ALL in owner.verbs or set(sub.verbs) <= set(owner.verbs)
    groups = ALL in owner.api_groups or set(sub.api_groups) <= set(owner.api_groups)
    if sub.resource_names:
        names = not owner.resource_names or \
            set(sub.resource_names) <= set(owner.resource_names)
    else:
        names = not owner.resource_names
    return (verbs and groups and names and _resources_cover(owner.resources, sub.resources)
            and _urls_cover(owner.non_resource_urls, sub.non_resource_urls))


def covers(owner_rules: Iterable[PolicyRule],
           rules: Iterable[PolicyRule]) -> tuple[bool, list[PolicyRule]]:
    """Whether ``owner_rules`` cover ``rules``, and the broken-down rules they miss
    (upstream's ``Covers``)."""
    owners = list(owner_rules)
    missing = [sub for rule in rules for sub in breakdown(rule)
               if not any(rule_covers(o, sub) for o in owners)]
    return not missing, missing


def compact(rules: Iterable[PolicyRule]) -> list[PolicyRule]:
    """Merge rules of one group and one resource (and nothing else) that differ only in
    verbs, upstream's ``CompactRules``."""
    out: list[PolicyRule] = []
    simple: dict[tuple[str, str], list[str]] = {}
    for rule in rules:
        if not rule.resource_names and not rule.non_resource_urls and \
                len(rule.api_groups) == 1 and len(rule.resources) == 1:
            simple.setdefault((rule.api_groups[0], rule.resources[0]), []).extend(rule.verbs)
        else:
            out.append(rule)
    out.extend(PolicyRule(tuple(verbs), (group,), (resource,))
               for (group, resource), verbs in simple.items())
    return out
