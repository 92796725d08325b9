"""The RBAC authorizer: ClusterRoleBindings and RoleBindings grant the rules of the
Role or ClusterRole they reference to their subjects.

Design. Upstream lists every binding on each request and tests every subject; here the
bindings are indexed by (namespace, subject) — ``""`` for ClusterRoleBindings — where a
subject is ``u:<username>`` (User subjects, and ServiceAccount subjects as their
``system:serviceaccount:<ns>:<name>`` user name) or ``g:<group>``. A request looks up the
user's name and each of its groups, so its cost depends on the bindings that apply to the
user, not on how many bindings exist.

The indexes follow the watch caches without polling: one cache watcher per binding
resource delivers every change synchronously at fan-out time (``CacheWatcher.sink``),
and the index updates just that binding. When a watcher is closed (the feed re-listed)
or the cache's object map was replaced, the index is rebuilt from the cache on the next
request. Role rules are read from the role caches on demand and memoised per cached
object, so a changed Role is seen on the next request with no invalidation step.
Everything runs in the event loop between awaits, so no locking is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from kubesmith.api.resources import Resources
from kubesmith.api.store import ResourceStore
from kubesmith.api.watchcache import CachedObject, CacheEvent, CacheWatcher
from kubesmith.apiserver.authn import UserInfo
from kubesmith.apiserver.authz import Attributes, Decision
from kubesmith.apiserver.rbac.rules import PolicyRule, parse_rules, rule_allows

RBAC_GROUP = "rbac.authorization.k8s.io"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


def service_account_username(namespace: str, name: str) -> str:
    """The user name a ServiceAccount authenticates as."""
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


@dataclass(frozen=True, slots=True)
class BindingRef:
    """What the authorizer needs of one binding: where it is and which role it grants."""

    key: str
    kind: str  # "ClusterRoleBinding" or "RoleBinding"
    name: str
    namespace: str
    role_kind: str
    role_name: str

    def describe(self) -> str:
        """Upstream's describer prefix (``ClusterRoleBinding "x" of ClusterRole "y"``)."""
        name = f"{self.name}/{self.namespace}" if self.namespace else self.name
        return f'{self.kind} "{name}" of {self.role_kind} "{self.role_name}"'


def _subject_keys(subject: object, binding_namespace: str) -> str | None:
    """The index key of one binding subject (None when it can match nobody)."""
    if not isinstance(subject, dict):
        return None
    kind = subject.get("kind")
    name = str(subject.get("name") or "")
    if kind == "User":
        return "u:" + name
    if kind == "Group":
        return "g:" + name
    if kind == "ServiceAccount":
        # A RoleBinding's ServiceAccount without a namespace means one in its own.
        ns = str(subject.get("namespace") or "") or binding_namespace
        if not ns:
            return None
        return "u:" + service_account_username(ns, name)
    return None


class BindingIndex:
    """The bindings of one resource (RoleBindings or ClusterRoleBindings), indexed by
    (namespace, subject key) and kept current from that resource's watch cache."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._store: ResourceStore | None = None
        self._watcher: CacheWatcher | None = None
        self._objects: object = None
        # (namespace, subject key) → {binding key: binding}
        self._index: dict[tuple[str, str], dict[str, BindingRef]] = {}
        # binding key → the index entries it occupies (for removal)
        self._entries: dict[str, list[tuple[str, str]]] = {}

    # ---- keeping current ----------------------------------------------------------------
    def current(self) -> bool:
        """Whether the index has followed its cache without a gap."""
        return self._store is not None and self._watcher is not None and \
            not self._watcher.closed and self._store.cache.objects is self._objects

    def sync(self, store: ResourceStore | None) -> None:
        """Make sure the index follows ``store``'s cache (rebuilding when it cannot be
        trusted to have seen every event)."""
        if store is None:
            self._reset()
        elif store is not self._store or not self.current():
            self._rebuild(store)

    def _reset(self) -> None:
        if self._store is not None and self._watcher is not None:
            self._store.cache.unwatch(self._watcher)
        self._store = None
        self._watcher = None
        self._objects = None
        self._index = {}
        self._entries = {}

    def _rebuild(self, store: ResourceStore) -> None:
        self._reset()
        # Registering with since=None queues the current state as ADDED events; draining
        # them and installing the sink happen with no await in between, so no event is
        # lost or applied twice.
        watcher = store.cache.watch(namespace=None, predicate=None, since=None)
        while True:
            try:
                event = watcher.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if event is not None:
                self.apply(event)
        watcher.sink = self._sink
        self._store = store
        self._watcher = watcher
        self._objects = store.cache.objects

    def _sink(self, event: CacheEvent) -> bool:
        self.apply(event)
        return True

    def close(self) -> None:
        """Stop following the cache."""
        self._reset()

    def apply(self, event: CacheEvent) -> None:
        """Apply one cache event to the index."""
        self._remove(event.obj.key)
        if event.type != "DELETED":
            self._add(event.obj)

    def _remove(self, key: str) -> None:
        for entry in self._entries.pop(key, ()):
            bucket = self._index.get(entry)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del self._index[entry]

    def _add(self, cached: CachedObject) -> None:
        obj = cached.obj
        ref = obj.get("roleRef")
        if not isinstance(ref, dict):
            return
        binding = BindingRef(cached.key, self.kind, cached.name, cached.namespace,
                             str(ref.get("kind") or ""), str(ref.get("name") or ""))
        entries: list[tuple[str, str]] = []
        subjects = obj.get("subjects")
        for subject in subjects if isinstance(subjects, list) else ():
            skey = _subject_keys(subject, cached.namespace)
            if skey is None:
                continue
            entry = (cached.namespace, skey)
            bucket = self._index.setdefault(entry, {})
            if cached.key not in bucket:
                bucket[cached.key] = binding
                entries.append(entry)
        if entries:
            self._entries[cached.key] = entries

    # ---- lookups ------------------------------------------------------------------------
    def for_user(self, user: UserInfo, namespace: str) -> Iterator[BindingRef]:
        """The bindings in ``namespace`` one of whose subjects is ``user``."""
        seen: set[str] = set()
        keys = ["u:" + user.name, *("g:" + g for g in user.groups)]
        for skey in keys:
            bucket = self._index.get((namespace, skey))
            if not bucket:
                continue
            for key, binding in bucket.items():
                if key not in seen:
                    seen.add(key)
                    yield binding

    def __len__(self) -> int:
        return len(self._entries)


class RBACAuthorizer:
    """Upstream's RBAC authorizer over the server's watch caches."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.cluster_bindings = BindingIndex("ClusterRoleBinding")
        self.bindings = BindingIndex("RoleBinding")
        # cache key → (the cached object the rules were parsed from, its rules)
        self._rules: dict[str, tuple[CachedObject, tuple[PolicyRule, ...]]] = {}
        self._prune_at = 256
        self._stores: dict[str, ResourceStore] = {}

    def store(self, kind: str) -> ResourceStore | None:
        """The store of an RBAC kind (memoised: ``Resources.for_kind`` scans every
        served type, and this runs on every request; looked up again whenever a binding
        index has to be rebuilt, which is also when a store could have been replaced)."""
        rs = self._stores.get(kind)
        if rs is None:
            rs = self.resources.for_kind(RBAC_GROUP, kind)
            if rs is not None:
                self._stores[kind] = rs
        return rs

    def _sync(self) -> None:
        if self.cluster_bindings.current() and self.bindings.current():
            return
        self._stores.clear()
        self.cluster_bindings.sync(self.store("ClusterRoleBinding"))
        self.bindings.sync(self.store("RoleBinding"))

    def close(self) -> None:
        """Stop following the binding caches."""
        self.cluster_bindings.close()
        self.bindings.close()

    # ---- role resolution ----------------------------------------------------------------
    def role_rules(self, kind: str, name: str,
                   namespace: str) -> tuple[tuple[PolicyRule, ...], str]:
        """The rules of a roleRef resolved in ``namespace`` (a binding's own), or no rules
        and upstream's error text (``clusterrole.rbac.authorization.k8s.io "x" not
        found``)."""
        if kind == "ClusterRole":
            store = self.store("ClusterRole")
            singular, ns = "clusterrole", None
        elif kind == "Role":
            store = self.store("Role")
            singular, ns = "role", namespace
        else:
            return (), f'unsupported role reference kind: "{kind}"'
        cached = None
        if store is not None and (ns or kind == "ClusterRole"):
            cached = store.cache.get(store.key(ns, name))
        if cached is None:
            return (), f'{singular}.{RBAC_GROUP} "{name}" not found'
        memo = self._rules.get(cached.key)
        if memo is not None and memo[0] is cached:
            return memo[1], ""
        rules = parse_rules(cached.obj.get("rules"))
        self._rules[cached.key] = (cached, rules)
        if len(self._rules) > self._prune_at:
            self._prune()
        return rules, ""

    def _prune(self) -> None:
        """Forget memoised rules of roles no longer in their caches."""
        live: set[str] = set()
        for kind in ("Role", "ClusterRole"):
            store = self.store(kind)
            if store is not None:
                live.update(store.cache.objects)
        self._rules = {k: v for k, v in self._rules.items() if k in live}
        self._prune_at = 2 * len(self._rules) + 256

    def applicable(self, user: UserInfo, namespace: str) -> Iterator[BindingRef]:
        """The bindings that apply to ``user`` for a request in ``namespace``:
        ClusterRoleBindings, then the namespace's RoleBindings (none when ``""``)."""
        self._sync()
        yield from self.cluster_bindings.for_user(user, "")
        if namespace:
            yield from self.bindings.for_user(user, namespace)

    def resolve(self, user: UserInfo, namespace: str) -> tuple[list[PolicyRule], list[str]]:
        """Every rule granted to ``user`` in ``namespace`` and the resolution errors (a
        binding to a missing role); upstream's ``RulesFor``."""
        rules: list[PolicyRule] = []
        errors: list[str] = []
        for binding in self.applicable(user, namespace):
            found, error = self.role_rules(binding.role_kind, binding.role_name,
                                           binding.namespace)
            rules.extend(found)
            if error:
                errors.append(error)
        return rules, errors

    # ---- the Authorizer protocol --------------------------------------------------------
    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        """ALLOW when a rule of an applicable binding grants the request; otherwise
        NO_OPINION with upstream's reason: empty, or ``RBAC: <resolution errors>``."""
        errors: list[str] = []
        for binding in self.applicable(attrs.user, attrs.namespace):
            rules, error = self.role_rules(binding.role_kind, binding.role_name,
                                           binding.namespace)
            for rule in rules:
                if rule_allows(attrs, rule):
                    return Decision.ALLOW, ""
            if error:
                errors.append(error)
        if not errors:
            return Decision.NO_OPINION, ""
        return Decision.NO_OPINION, "RBAC: " + aggregate_errors(errors)

    def rules_for(self, user: UserInfo,
                  namespace: str) -> tuple[list[PolicyRule], list[PolicyRule], bool]:
        """(resource rules, non-resource rules, incomplete) for SelfSubjectRulesReview.

        A rule naming both resources and URLs appears in both lists, as upstream;
        ``incomplete`` is set when a binding referenced a missing role (upstream then
        also reports the errors as ``evaluationError``: see :meth:`resolve`).
        """
        rules, errors = self.resolve(user, namespace)
        resource_rules = [r for r in rules if r.resources]
        non_resource_rules = [r for r in rules if r.non_resource_urls]
        return resource_rules, non_resource_rules, bool(errors)


def aggregate_errors(messages: list[str]) -> str:
    """Upstream's ``utilerrors.NewAggregate(...).Error()``: one message as is, several
    de-duplicated inside ``[a, b]``."""
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"

