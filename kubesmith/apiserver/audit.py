"""Audit logging: an ``audit.k8s.io/v1`` Policy decides how much of each request to record,
and ``audit.k8s.io/v1`` Events go, one JSON document a line, to a rotating file.

Policy (``--audit-policy-file``): rules are tried in order and the first match gives the
level (``None``, ``Metadata``, ``Request``, ``RequestResponse``) and the stages to omit (the
union of the rule's and the policy's ``omitStages``); no match means ``None``, as upstream.
A rule matches when every field it sets matches: ``users``, ``userGroups`` (any group),
``verbs``, then either ``resources``/``namespaces`` (resource requests only; ``"pods"``,
``"pods/log"``, ``"*"``, ``"pods/*"``, ``"*/scale"``, optionally narrowed by
``resourceNames``) or ``nonResourceURLs`` (exact, ``"*"``, or a prefix ending in ``*``).

Events: ``RequestReceived`` when the request is authenticated (before authorization),
``ResponseStarted`` for long-running requests once headers are sent (watch), and
``ResponseComplete`` (or ``Panic``) at the end. ``Metadata`` carries who, what, where,
the response status and annotations; ``Request`` adds the decoded request body
(resource requests only); ``RequestResponse`` adds the response body.

Deviations from upstream, all on the side of less leakage or no request latency:

* **No secrets in logs by default.** Request and response bodies of Secrets
  (``secrets``), TokenReviews (``authentication.k8s.io/tokenreviews``) and TokenRequests
  (``serviceaccounts/token``) are recorded at ``Metadata`` level -- the event's ``level``
  says ``Metadata`` and the annotation ``audit.kubesmith.io/redacted`` says why -- unless
  the matching rule names that resource explicitly (``resources: ["secrets"]`` in the
  right group, or ``"serviceaccounts/token"``); a wildcard or an empty resource list is not
  enough. Upstream logs whatever the policy says. ConfigMaps are not redacted.
* **Writes never block a request.** Events are serialized on the event loop and handed to a
  background thread through a bounded queue; when the queue is full the event is dropped,
  counted (``AuditLogWriter.dropped``) and a warning logged. Upstream's default
  ``blocking`` mode stalls the request instead.
* The log file is created (or tightened) to mode 0600 and its directory 0700; rotation
  renames it to ``<name>-<UTC 2006-01-02T15-04-05.000><ext>`` as lumberjack does, and the new
  file is 0600 too. An event larger than ``--audit-log-maxsize`` is written to a fresh file
  rather than refused (lumberjack returns an error and loses it).
* An unauthenticated request is audited with an empty user; rules naming ``users`` or
  ``userGroups`` never match it (upstream evaluates such requests with a nil user).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import queue
import re
import sys
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

import orjson
import yaml

from kubesmith.apiserver.authn import UserInfo
from kubesmith.apiserver.authz import Attributes
from kubesmith.apiserver.requestinfo import RequestInfo

log = logging.getLogger("kubesmith.apiserver.audit")

API_VERSION = "audit.k8s.io/v1"

# Levels, weakest first.
NONE = "None"
METADATA = "Metadata"
REQUEST = "Request"
REQUEST_RESPONSE = "RequestResponse"
LEVELS = (NONE, METADATA, REQUEST, REQUEST_RESPONSE)
_RANK = {level: i for i, level in enumerate(LEVELS)}

# Stages.
REQUEST_RECEIVED = "RequestReceived"
RESPONSE_STARTED = "ResponseStarted"
RESPONSE_COMPLETE = "ResponseComplete"
PANIC = "Panic"
STAGES = (REQUEST_RECEIVED, RESPONSE_STARTED, RESPONSE_COMPLETE, PANIC)

# Annotations (upstream's authorization filter keys, plus ours for redaction).
DECISION_ANNOTATION = "authorization.k8s.io/decision"
REASON_ANNOTATION = "authorization.k8s.io/reason"
REDACTED_ANNOTATION = "audit.kubesmith.io/redacted"

# (group, resource, subresource) whose bodies carry credentials.
SENSITIVE_RESOURCES = frozenset({
    ("", "secrets", ""),
    ("authentication.k8s.io", "tokenreviews", ""),
    ("", "serviceaccounts", "token"),
})

AUDIT_ID_HEADER = "Audit-Id"
_MAX_USER_AGENT = 1024
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MEGABYTE = 1024 * 1024
_DEFAULT_MAX_SIZE_MB = 100  # lumberjack's default when --audit-log-maxsize is 0
_BACKUP_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"


def level_at_least(level: str, floor: str) -> bool:
    return _RANK[level] >= _RANK[floor]


# ---- policy ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GroupResources:
    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()

    def matches(self, group: str, resource: str, subresource: str, name: str) -> bool:
        if group != self.group:
            return False
        if not self.resources:
            return True
        if self.resource_names and name not in self.resource_names:
            return False
        combined = f"{resource}/{subresource}" if subresource else resource
        for res in self.resources:
            if res in ("*", combined):
                return True
            if subresource and res.startswith("*/") and res[2:] == subresource:
                return True
            if res.endswith("/*") and res[:-2] == resource:
                return True
        return False

    def names_exactly(self, group: str, resource: str, subresource: str) -> bool:
        combined = f"{resource}/{subresource}" if subresource else resource
        return group == self.group and combined in self.resources


@dataclass(frozen=True, slots=True)
class PolicyRule:
    level: str
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool | None = None

    def matches(self, attrs: Attributes) -> bool:
        user = attrs.user if attrs.user.name else None  # empty name: unauthenticated
        if self.users and (user is None or user.name not in self.users):
            return False
        if self.user_groups and (user is None or not any(
                g in self.user_groups for g in user.groups)):
            return False
        if self.verbs and attrs.verb not in self.verbs:
            return False
        if self.namespaces or self.resources:
            if not attrs.is_resource:
                return False
            if self.namespaces and attrs.namespace not in self.namespaces:
                return False
            return not self.resources or any(
                gr.matches(attrs.group, attrs.resource, attrs.subresource, attrs.name)
                for gr in self.resources)
        if self.non_resource_urls:
            if attrs.is_resource:
                return False
            return any(_path_matches(attrs.path, spec) for spec in self.non_resource_urls)
        return True

    def names_exactly(self, group: str, resource: str, subresource: str) -> bool:
        return any(gr.names_exactly(group, resource, subresource) for gr in self.resources)


def _path_matches(path: str, spec: str) -> bool:
    if spec in ("*", path):
        return True
    return spec.endswith("*") and path.startswith(spec.rstrip("*"))


@dataclass(frozen=True, slots=True)
class Decided:
    """What the policy says about one request."""
    level: str
    omit_stages: frozenset[str]
    omit_managed_fields: bool
    rule: PolicyRule | None


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[PolicyRule, ...]
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Policy:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"audit policy: failed to read {str(path)!r}: {exc}") from exc
        try:
            return cls.parse(text)
        except ValueError as exc:
            raise ValueError(f"{exc}: from file {path}") from exc

    @classmethod
    def parse(cls, text: str | bytes) -> Policy:
        """An ``audit.k8s.io/v1`` Policy from YAML or JSON; ValueError names the problem."""
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"audit policy: failed decoding: {exc}") from exc
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: Any) -> Policy:
        if not isinstance(doc, dict):
            raise ValueError("audit policy: failed decoding: not an object")
        if doc.get("apiVersion") != API_VERSION or doc.get("kind") != "Policy":
            raise ValueError(
                f"audit policy: unknown group version field "
                f"{doc.get('apiVersion', '')!s}, Kind={doc.get('kind', '')!s} in policy "
                f"(want apiVersion {API_VERSION}, kind Policy)")
        errs: list[str] = []
        omit = _stages(doc.get("omitStages"), "omitStages", errs)
        omf = doc.get("omitManagedFields", False)
        if not isinstance(omf, bool):
            errs.append("omitManagedFields: must be a boolean")
            omf = False
        raw_rules = doc.get("rules")
        if raw_rules is None:
            raw_rules = []
        if not isinstance(raw_rules, list):
            errs.append("rules: must be a list")
            raw_rules = []
        rules = tuple(_rule(r, f"rules[{i}]", omit, errs) for i, r in enumerate(raw_rules))
        if errs:
            raise ValueError("audit policy: " + "; ".join(errs))
        if not rules:
            raise ValueError("audit policy: loaded illegal policy with 0 rules")
        return cls(rules, omit, omf)

    def decide(self, attrs: Attributes) -> Decided:
        for rule in self.rules:
            if rule.matches(attrs):
                omf = (self.omit_managed_fields if rule.omit_managed_fields is None
                       else rule.omit_managed_fields)
                return Decided(rule.level, rule.omit_stages, omf, rule)
        return Decided(NONE, self.omit_stages, self.omit_managed_fields, None)

    def level_for(self, attrs: Attributes) -> tuple[str, frozenset[str]]:
        """The level for a request and the stages not to record (upstream's
        ``LevelAndStages``)."""
        d = self.decide(attrs)
        return d.level, d.omit_stages


def _strings(value: Any, where: str, errs: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errs.append(f"{where}: must be a list of strings")
        return ()
    return tuple(value)


def _stages(value: Any, where: str, errs: list[str]) -> frozenset[str]:
    out = set()
    for i, s in enumerate(_strings(value, where, errs)):
        if s not in STAGES:
            errs.append(f"{where}[{i}]: Invalid value: {s!r}: allowed stages are "
                        + ",".join(STAGES))
        out.add(s)
    return frozenset(out)


_RULE_FIELDS = {"level", "users", "userGroups", "verbs", "resources", "namespaces",
                "nonResourceURLs", "omitStages", "omitManagedFields"}


def _rule(raw: Any, where: str, policy_omit: frozenset[str], errs: list[str]) -> PolicyRule:
    if not isinstance(raw, dict):
        errs.append(f"{where}: must be an object")
        return PolicyRule(NONE)
    for key in raw:
        if key not in _RULE_FIELDS:
            errs.append(f'{where}: unknown field "{key}"')
    level = raw.get("level")
    if not level:
        errs.append(f"{where}.level: Required value")
        level = NONE
    elif level not in LEVELS:
        errs.append(f'{where}.level: Unsupported value: {level!r}: supported values: '
                    + ", ".join(f'"{lv}"' for lv in LEVELS))
        level = NONE
    urls = _strings(raw.get("nonResourceURLs"), f"{where}.nonResourceURLs", errs)
    for i, url in enumerate(urls):
        if url == "*":
            continue
        if not url.startswith("/"):
            errs.append(f"{where}.nonResourceURLs[{i}]: Invalid value: {url!r}: non-resource "
                        "URL rules must begin with a '/' character")
        if "*" in url[:-1]:
            errs.append(f"{where}.nonResourceURLs[{i}]: Invalid value: {url!r}: non-resource "
                        "URL wildcards '*' must be the final character of the rule")
    resources: list[GroupResources] = []
    raw_resources = raw.get("resources") or []
    if not isinstance(raw_resources, list):
        errs.append(f"{where}.resources: must be a list")
        raw_resources = []
    for i, gr in enumerate(raw_resources):
        at = f"{where}.resources[{i}]"
        if not isinstance(gr, dict):
            errs.append(f"{at}: must be an object")
            continue
        for key in gr:
            if key not in ("group", "resources", "resourceNames"):
                errs.append(f'{at}: unknown field "{key}"')
        group = gr.get("group") or ""
        if not isinstance(group, str):
            errs.append(f"{at}.group: must be a string")
            group = ""
        elif group and not _DNS_SUBDOMAIN.match(group):
            errs.append(f"{at}.group: Invalid value: {group!r}: must be a DNS subdomain "
                        "(an API group name, without a version)")
        res = _strings(gr.get("resources"), f"{at}.resources", errs)
        names = _strings(gr.get("resourceNames"), f"{at}.resourceNames", errs)
        if names and not res:
            errs.append(f"{at}.resourceNames: Invalid value: {list(names)!r}: using "
                        "resourceNames requires at least one resource")
        resources.append(GroupResources(group, res, names))
    namespaces = _strings(raw.get("namespaces"), f"{where}.namespaces", errs)
    if urls and (resources or namespaces):
        errs.append(f"{where}.nonResourceURLs: Invalid value: {list(urls)!r}: rules cannot "
                    "apply to both regular resources and non-resource URLs")
    omf = raw.get("omitManagedFields")
    if omf is not None and not isinstance(omf, bool):
        errs.append(f"{where}.omitManagedFields: must be a boolean")
        omf = None
    return PolicyRule(
        level=level,
        users=_strings(raw.get("users"), f"{where}.users", errs),
        user_groups=_strings(raw.get("userGroups"), f"{where}.userGroups", errs),
        verbs=_strings(raw.get("verbs"), f"{where}.verbs", errs),
        resources=tuple(resources),
        namespaces=namespaces,
        non_resource_urls=urls,
        omit_stages=policy_omit | _stages(raw.get("omitStages"), f"{where}.omitStages", errs),
        omit_managed_fields=omf,
    )


# ---- events ---------------------------------------------------------------------------------
def micro_time(t: datetime) -> str:
    """metav1.MicroTime: RFC 3339 in UTC with microseconds."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RequestLike(Protocol):
    """What the auditor reads from a request (aiohttp's ``web.Request`` fits)."""

    @property
    def path_qs(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def remote(self) -> str | None: ...


def source_ips(headers: Mapping[str, str], remote: str | None) -> list[str]:
    """X-Forwarded-For, then X-Real-Ip if not already listed, then the peer address
    unless it equals the last one (upstream's ``utilnet.SourceIPs``)."""
    ips: list[str] = []
    for part in headers.get("X-Forwarded-For", "").split(","):
        ip = _ip(part)
        if ip:
            ips.append(ip)
    real = _ip(headers.get("X-Real-Ip", ""))
    if real and real not in ips:
        ips.append(real)
    peer = _ip(remote or "")
    if peer and (not ips or ips[-1] != peer):
        ips.append(peer)
    return ips


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return ""


def _user_json(user: UserInfo | None) -> dict[str, Any]:
    if user is None:
        return {}
    out: dict[str, Any] = {"username": user.name}
    if user.uid:
        out["uid"] = user.uid
    if user.groups:
        out["groups"] = list(user.groups)
    if user.extra:
        out["extra"] = {k: list(v) for k, v in user.extra.items()}
    return out


def _without_managed_fields(obj: Any) -> Any:
    """A shallow copy of ``obj`` (and of a list's items) without metadata.managedFields."""
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    items = out.get("items")
    if isinstance(items, list):
        out["items"] = [_without_managed_fields(i) for i in items]
    return out


class EventWriter(Protocol):
    def write(self, line: bytes) -> bool:
        """Queue one serialized event; False if it was dropped."""
        ...

    def close(self) -> None: ...


class AuditContext:
    """One request's audit record. Created by ``Auditor.begin``; the pipeline feeds it the
    request body, the authorization decision and the response, then calls ``finish``."""

    def __init__(self, auditor: Auditor, decided: Decided, info: RequestInfo,
                 user: UserInfo | None, request: RequestLike, received: datetime) -> None:
        self.auditor = auditor
        self.level = decided.level
        self.omit_stages = decided.omit_stages
        self.omit_managed_fields = decided.omit_managed_fields
        self.info = info
        supplied = request.headers.get("Audit-ID", "").strip()
        self.audit_id = supplied or str(uuid.uuid4())
        self.received = received
        self.finished = False
        self.annotations: dict[str, str] = {}
        self._request_object: bytes | None = None
        self._response_object: bytes | None = None
        self._response_status: Mapping[str, Any] | None = None
        self._object_meta: dict[str, Any] = {}
        self._response_code = 0
        self.redacted = False
        if info.is_resource and (info.group, info.resource, info.subresource) in \
                SENSITIVE_RESOURCES and level_at_least(self.level, REQUEST) and not (
                decided.rule is not None and decided.rule.names_exactly(
                    info.group, info.resource, info.subresource)):
            self.level = METADATA
            self.redacted = True
            self.annotations[REDACTED_ANNOTATION] = (
                "request and response bodies of this resource are not logged unless an "
                "audit policy rule names it explicitly")
        ua = request.headers.get("User-Agent", "")
        if len(ua) > _MAX_USER_AGENT:
            ua = ua[:_MAX_USER_AGENT] + "...TRUNCATED"
        self._base: dict[str, Any] = {
            "requestURI": request.path_qs,
            "verb": info.verb,
            "user": _user_json(user),
            "sourceIPs": source_ips(request.headers, request.remote),
        }
        if ua:
            self._base["userAgent"] = ua

    # ---- feeding ----------------------------------------------------------------------
    def annotate(self, key: str, value: str) -> None:
        self.annotations.setdefault(key, value)

    def authorized(self, allowed: bool, reason: str = "") -> None:
        """Record the authorization decision (upstream's authorizer annotations)."""
        self.annotations[DECISION_ANNOTATION] = "allow" if allowed else "forbid"
        self.annotations[REASON_ANNOTATION] = reason

    def log_request_object(self, obj: Any) -> None:
        """The decoded request body, as sent (call before defaulting mutates it: it is
        serialized now). Its metadata fills objectRef's name/uid/resourceVersion at any
        level; the body itself is kept at Request level and above."""
        if not self.info.is_resource or obj is None:
            return
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if isinstance(meta, dict):
            self._object_meta = {k: meta[k] for k in ("namespace", "name", "uid",
                                                      "resourceVersion")
                                 if isinstance(meta.get(k), str) and meta[k]}
        if self._request_object is None and level_at_least(self.level, REQUEST):
            if self.omit_managed_fields:
                obj = _without_managed_fields(obj)
            try:
                self._request_object = orjson.dumps(obj)
            except TypeError as exc:
                log.warning("audit %s: request object not serializable: %s",
                            self.audit_id, exc)

    # ---- stages -----------------------------------------------------------------------
    def request_received(self) -> None:
        self._emit(REQUEST_RECEIVED, None, None)

    def response_started(self, status_code: int) -> None:
        """For long-running requests (watch): headers are out, the body streams."""
        self._response_code = status_code
        self._emit(RESPONSE_STARTED, {"metadata": {}, "code": status_code}, None)

    def finish(self, status_code: int, response_status: Mapping[str, Any] | None = None,
               request_object: Any = None, response_object: Any = None,
               decision: bool | str | None = None, reason: str = "") -> None:
        """The ResponseComplete event. ``response_status`` is the ``Status`` the response
        carried, if any (errors; deletes answering with a Status); ``decision`` is the
        authorization outcome when not already given to ``authorized`` (True/"allow",
        False/"forbid")."""
        if self.finished:
            return
        self.finished = True
        if decision is not None:
            allowed = decision is True or decision == "allow"
            self.authorized(allowed, reason)
        if request_object is not None:
            self.log_request_object(request_object)
        if response_object is not None:
            self.log_response_object(response_object)
        status = self._status(status_code, response_status or self._response_status)
        self._emit(RESPONSE_COMPLETE, status, self._response_object)

    def log_response_object(self, obj: Any) -> None:
        """The response body (a decoded object, or JSON bytes as sent). A ``Status``
        fills responseStatus at any level; the body is kept at RequestResponse level, for
        resource requests only. Later calls replace earlier ones."""
        if obj is None:
            return
        if isinstance(obj, dict) and obj.get("kind") == "Status":
            self._response_status = obj
        if not self.info.is_resource or not level_at_least(self.level, REQUEST_RESPONSE):
            return
        if isinstance(obj, bytes | bytearray | memoryview):
            raw = bytes(obj)
            if raw.lstrip()[:1] not in (b"{", b"["):
                return  # protobuf or another non-JSON form: not logged
            if not self.omit_managed_fields:
                self._response_object = raw
                return
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return
        if self.omit_managed_fields:
            obj = _without_managed_fields(obj)
        try:
            self._response_object = orjson.dumps(obj)
        except TypeError as exc:
            log.warning("audit %s: response object not serializable: %s",
                        self.audit_id, exc)

    def panic(self, exc: BaseException) -> None:
        """The Panic event: the handler raised something unexpected (answered 500)."""
        if self.finished:
            return
        self.finished = True
        self._emit(PANIC, {"metadata": {}, "status": "Failure",
                           "message": f"APIServer panic'd: {exc}",
                           "reason": "InternalError", "code": 500}, None)

    @staticmethod
    def _status(code: int, status: Mapping[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"metadata": {}}
        if status:
            for key in ("status", "message", "reason"):
                if status.get(key):
                    out[key] = status[key]
        out["code"] = int(status.get("code") or code) if status else code
        return out

    def event(self, stage: str, response_status: dict[str, Any] | None,
              response_object: bytes | None, now: datetime | None = None) -> dict[str, Any]:
        ev: dict[str, Any] = {
            "kind": "Event", "apiVersion": API_VERSION, "level": self.level,
            "auditID": self.audit_id, "stage": stage, **self._base}
        if self.info.is_resource:
            ref: dict[str, Any] = {}
            info, meta = self.info, self._object_meta
            for key, value in (("resource", info.resource),
                               ("namespace", info.namespace or meta.get("namespace", "")),
                               ("name", info.name or meta.get("name", "")),
                               ("uid", meta.get("uid", "")),
                               ("apiGroup", info.group), ("apiVersion", info.version),
                               ("resourceVersion", meta.get("resourceVersion", "")),
                               ("subresource", info.subresource)):
                if value:
                    ref[key] = value
            ev["objectRef"] = ref
        if response_status is not None:
            ev["responseStatus"] = response_status
        if stage != REQUEST_RECEIVED and self._request_object is not None:
            ev["requestObject"] = orjson.Fragment(self._request_object)
        if response_object is not None:
            ev["responseObject"] = orjson.Fragment(response_object)
        ev["requestReceivedTimestamp"] = micro_time(self.received)
        ev["stageTimestamp"] = micro_time(now or datetime.now(UTC))
        if self.annotations:
            ev["annotations"] = dict(self.annotations)
        return ev

    def _emit(self, stage: str, response_status: dict[str, Any] | None,
              response_object: bytes | None) -> None:
        if stage in self.omit_stages:
            return
        self.auditor.emit(self.event(stage, response_status, response_object))


_LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
_LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})


def is_long_running(info: RequestInfo) -> bool:
    """Requests that get a ResponseStarted event (upstream's long-running check)."""
    return info.verb in _LONG_RUNNING_VERBS or (
        info.is_resource and info.subresource in _LONG_RUNNING_SUBRESOURCES)


class Auditor:
    """The seam the API server calls: ``begin`` once the caller is known, then the
    returned context's methods; None from ``begin`` means this request is not audited."""

    def __init__(self, policy: Policy, writer: EventWriter) -> None:
        self.policy = policy
        self.writer = writer

    @classmethod
    def from_flags(cls, policy_file: str, log_path: str, *, maxsize: int = 0,
                   maxbackup: int = 0, maxage: int = 0) -> Auditor | None:
        """``--audit-policy-file`` and ``--audit-log-path`` (``-`` is stdout) with the
        rotation flags; None unless both are set (no policy or no backend: no audit).
        Raises ValueError for a bad policy or a negative number."""
        for flag, value in (("--audit-log-maxsize", maxsize),
                            ("--audit-log-maxbackup", maxbackup),
                            ("--audit-log-maxage", maxage)):
            if value < 0:
                raise ValueError(f"{flag} {value} can't be a negative number")
        if not policy_file or not log_path:
            return None
        policy = Policy.load(policy_file)
        return cls(policy, AuditLogWriter.from_flags(log_path, maxsize, maxbackup, maxage))

    def begin(self, info: RequestInfo, user: UserInfo | None, request: RequestLike, *,
              received: datetime | None = None) -> AuditContext | None:
        """Evaluate the policy and, unless the level is None, emit RequestReceived."""
        attrs = Attributes(user if user is not None else UserInfo(""), info.verb,
                           info.is_resource, info.path, info.group, info.version,
                           info.resource, info.subresource, info.namespace, info.name)
        decided = self.policy.decide(attrs)
        if decided.level == NONE:
            return None
        ctx = AuditContext(self, decided, info, user, request, received or datetime.now(UTC))
        ctx.request_received()
        return ctx

    def emit(self, event: dict[str, Any]) -> None:
        try:
            line = orjson.dumps(event)
        except TypeError as exc:
            log.warning("audit event %s not serializable: %s", event.get("auditID"), exc)
            return
        self.writer.write(line)

    def close(self) -> None:
        self.writer.close()


# ---- the log writer -------------------------------------------------------------------------
@dataclass
class _Backup:
    path: Path
    when: datetime


class AuditLogWriter:
    """JSON lines to ``path`` from a background thread, rotated by size like lumberjack:
    when a line would take the file past ``max_bytes`` it is renamed to
    ``<stem>-<UTC timestamp><ext>``, and backups beyond ``max_backups`` (0: keep all) or
    older than ``max_age`` (None: keep all) are removed. ``path`` ``-`` writes to stdout.

    ``write`` never blocks: with ``queue_size`` events waiting, further events are dropped
    and counted in ``dropped``. ``close`` drains the queue, flushes and stops the thread."""

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = _DEFAULT_MAX_SIZE_MB
                 * _MEGABYTE, max_backups: int = 0, max_age: timedelta | None = None,
                 queue_size: int = 10000) -> None:
        self.stdout = str(path) == "-"
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_backups = max_backups
        self.max_age = max_age
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_size)
        self._file: IO[bytes] | None = None
        self._size = 0
        self._closed = False
        self._lock = threading.Lock()
        if not self.stdout:
            self._open()  # fail at startup, not on the first request
        self._thread = threading.Thread(target=self._run, name="audit-log", daemon=True)
        self._thread.start()

    @classmethod
    def from_flags(cls, path: str, maxsize_mb: int = 0, maxbackup: int = 0,
                   maxage_days: int = 0, **kwargs: Any) -> AuditLogWriter:
        return cls(path, max_bytes=(maxsize_mb or _DEFAULT_MAX_SIZE_MB) * _MEGABYTE,
                   max_backups=maxbackup,
                   max_age=timedelta(days=maxage_days) if maxage_days else None, **kwargs)

    # ---- producer side (event loop) --------------------------------------------------
    def write(self, line: bytes) -> bool:
        if self._closed:
            return False
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            with self._lock:
                self.dropped += 1
                dropped = self.dropped
            if dropped == 1 or dropped % 1000 == 0:
                log.warning("audit log queue full: %d events dropped so far", dropped)
            return False
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)  # blocks only until the thread makes room
        self._thread.join()

    # ---- consumer side (thread) ------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            stop = item is None
            batch = [] if item is None else [item]
            while not stop:  # drain what is waiting, then flush once
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    batch.append(more)
            for line in batch:
                try:
                    self._write_line(line + b"\n")
                    self.written += 1
                except Exception as exc:  # keep the thread alive whatever happens
                    log.error("audit log write to %s failed: %s", self.path, exc)
            try:
                self._flush()
            except Exception as exc:
                log.error("audit log flush failed: %s", exc)
            if stop:
                if self._file is not None:
                    with contextlib.suppress(OSError):
                        self._file.close()
                    self._file = None
                return

    def _flush(self) -> None:
        if self.stdout:
            sys.stdout.buffer.flush()
        elif self._file is not None:
            self._file.flush()

    def _write_line(self, data: bytes) -> None:
        if self.stdout:
            sys.stdout.buffer.write(data)
            return
        if self._file is None:
            self._open()
        if self._size + len(data) > self.max_bytes and self._size > 0:
            self._rotate()
        assert self._file is not None
        self._file.write(data)
        self._size += len(data)

    def _open(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
        except OSError:
            os.close(fd)
            raise
        self._file = os.fdopen(fd, "ab")
        self._size = os.fstat(fd).st_size

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        now = datetime.now(UTC)
        backup = self._backup_name(now)
        while backup.exists():  # two rotations in one millisecond
            now += timedelta(milliseconds=1)
            backup = self._backup_name(now)
        os.replace(self.path, backup)
        self._open()
        self._remove_old(now)

    def _backup_name(self, t: datetime) -> Path:
        stamp = t.strftime(_BACKUP_TIME_FORMAT) + f".{t.microsecond // 1000:03d}"
        return self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")

    def backups(self) -> list[Path]:
        """Rotated files, newest first."""
        return [b.path for b in self._backups()]

    def _backups(self) -> list[_Backup]:
        prefix, ext = f"{self.path.stem}-", self.path.suffix
        found: list[_Backup] = []
        try:
            entries: Iterable[Path] = list(self.path.parent.iterdir())
        except OSError:
            return []
        for p in entries:
            name = p.name
            if not (name.startswith(prefix) and name.endswith(ext)) or p == self.path:
                continue
            stamp = name[len(prefix):len(name) - len(ext)] if ext else name[len(prefix):]
            try:
                when = datetime.strptime(stamp, _BACKUP_TIME_FORMAT + ".%f").replace(
                    tzinfo=UTC)
            except ValueError:
                continue
            found.append(_Backup(p, when))
        found.sort(key=lambda b: b.when, reverse=True)
        return found

    def _remove_old(self, now: datetime) -> None:
        backups = self._backups()
        doomed: list[_Backup] = []
        if self.max_backups > 0:
            doomed.extend(backups[self.max_backups:])
            backups = backups[:self.max_backups]
        if self.max_age is not None:
            cutoff = now - self.max_age
            doomed.extend(b for b in backups if b.when < cutoff)
        for b in doomed:
            try:
                b.path.unlink()
            except OSError as exc:
                log.warning("removing old audit log %s: %s", b.path, exc)


@dataclass
class MemoryWriter:
    """Collects serialized events (tests, or wiring checks)."""
    lines: list[bytes] = field(default_factory=list)
    closed: bool = False

    def write(self, line: bytes) -> bool:
        self.lines.append(line)
        return True

    def close(self) -> None:
        self.closed = True

    def events(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.lines]
