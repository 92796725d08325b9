"""Subresources and computed (never stored) resources.

* ``status`` reuses the generic get/update/patch handlers: the store's status strategy
  keeps everything but ``.status``.
* ``scale`` presents ``autoscaling/v1`` Scale for Deployments, ReplicaSets, StatefulSets
  and ReplicationControllers and writes ``spec.replicas`` back.
* ``pods/binding`` (and the ``bindings`` resource) assign a pending pod to a node exactly
  once; ``pods/eviction`` deletes a pod on request.
* ``namespaces/finalize`` changes only ``spec.finalizers``.
* Reviews (SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview,
  SelfSubjectReview, TokenReview) are answered from the server's authenticators and
  authorizers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from kubesmith.api import errors, objectmeta
from kubesmith.api.custom import (
    CustomResourceStrategy,
    apply_custom_scale,
    scale_of_custom,
)
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.store import DeleteOptions, ResourceStore
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj
from kubesmith.apiserver import handlers, negotiation, patching, pod_streams
from kubesmith.apiserver.authz import Attributes, Decision
from kubesmith.apiserver.eviction import admit_eviction
from kubesmith.apiserver.requestinfo import RequestInfo

Handler = Callable[[handlers.RequestContext], Awaitable[web.StreamResponse]]

_SCALABLE = {("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
             ("", "replicationcontrollers")}


def handler_for(rt: ResourceType, info: RequestInfo, strategy: Strategy) -> Handler | None:
    sub, verb = info.subresource, info.verb
    if sub in ("status", "approval") and verb in ("get", "update", "patch"):
        return {"get": handlers.get, "update": handlers.update, "patch": handlers.patch}[verb]
    if sub == "scale" and verb in ("get", "update", "patch") and (
            (rt.group, rt.plural) in _SCALABLE or isinstance(strategy, CustomResourceStrategy)):
        return {"get": scale_get, "update": scale_update, "patch": scale_patch}[verb]
    if sub == "binding" and verb == "create":
        return pod_binding
    if sub == "eviction" and verb == "create":
        return pod_eviction
    if sub == "finalize" and verb == "update":
        return handlers.finalize
    if sub == "token" and verb == "create" and rt.plural == "serviceaccounts":
        return service_account_token
    # [streams hook] pods/log|exec|attach|portforward and nodes/proxy reach the node agent.
    if rt.group == "" and rt.plural == "pods":
        return pod_streams.handler_for(sub, verb)
    if rt.group == "" and rt.plural == "nodes" and sub == "proxy":
        return pod_streams.node_proxy
    return None


def virtual_handler(rt: ResourceType) -> Handler:
    if rt.plural == "bindings":
        return pod_binding
    return _REVIEWS.get(rt.plural, _unsupported)


async def _unsupported(ctx: handlers.RequestContext) -> web.StreamResponse:
    raise errors.method_not_supported(ctx.rt.plural, ctx.info.verb, ctx.rt.group)


# ---- scale -------------------------------------------------------------------------------

def _selector_string(obj: Obj) -> str:
    sel = obj.get("spec", {}).get("selector") or {}
    if obj.get("kind") == "ReplicationController":
        return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        op = expr.get("operator")
        key = expr.get("key")
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def scale_of(obj: Obj) -> Obj:
    meta = obj.get("metadata", {})
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp") if k in meta},
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                   "selector": _selector_string(obj)},
    }


def _scale_view(strategy: Strategy, obj: Obj) -> Obj:
    if isinstance(strategy, CustomResourceStrategy):
        return scale_of_custom(strategy.version, obj)
    return scale_of(obj)


def _scale_apply(strategy: Strategy, current: Obj, scale: Obj) -> Obj:
    rv = scale.get("metadata", {}).get("resourceVersion")
    if rv and rv != current["metadata"].get("resourceVersion"):
        raise errors.conflict(strategy.rt.plural, current["metadata"]["name"],
                              errors.STALE_OBJECT, strategy.rt.group)
    replicas = scale.get("spec", {}).get("replicas")
    if isinstance(strategy, CustomResourceStrategy):
        return apply_custom_scale(strategy.version, current, replicas)
    return _apply_scale(current, replicas)


async def scale_get(ctx: handlers.RequestContext) -> web.StreamResponse:
    cached = await ctx.rs.get(ctx.namespace, ctx.info.name, ctx.query.get("resourceVersion"))
    return ctx.respond(_scale_view(ctx.rs.strategy, ctx.rs.view(cached).obj))


def _apply_scale(current: Obj, replicas: Any) -> Obj:
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid_object("Scale", current["metadata"]["name"], [errors.invalid(
            "spec.replicas", replicas, "must be greater than or equal to 0")], "autoscaling")
    current.setdefault("spec", {})["replicas"] = replicas
    return current


async def scale_update(ctx: handlers.RequestContext) -> web.StreamResponse:
    scale = await handlers.read_body_object(ctx, "scale")
    opts = ctx.write_options("UPDATE", ctx.info.name)
    opts.subresource = "scale"
    strategy = ctx.rs.strategy
    result, _ = await ctx.rs.update(ctx.namespace, ctx.info.name,
                                    lambda cur: _scale_apply(strategy, _must(cur), scale), opts,
                                    retry_on_conflict=False)
    return ctx.respond(_scale_view(strategy, result))


async def scale_patch(ctx: handlers.RequestContext) -> web.StreamResponse:
    ctype = negotiation.content_type_of(ctx.request.headers.get("Content-Type"))
    if ctype not in negotiation.PATCH_TYPES:
        raise errors.unsupported_media_type(ctype)
    doc = negotiation.decode_body(await handlers._read_body(ctx.request), ctype)
    scale_strategy = Strategy(ResourceType("autoscaling", "v1", "Scale", "scale",
                                           ctx.rt.namespaced))
    patch_scale = patching.patcher(scale_strategy, ctype, doc, manager=ctx.field_manager(),
                                   force=ctx.flag("force"), subresource="scale")

    strategy = ctx.rs.strategy

    def transform(cur: Obj | None) -> Obj:
        current = _must(cur)
        scale = patch_scale(_scale_view(strategy, current))
        # A patch applies to the current object: its resourceVersion is not a precondition
        # unless the patch itself names one.
        return _scale_apply(strategy, current, scale)

    opts = ctx.write_options("UPDATE", ctx.info.name)
    opts.subresource = "scale"
    result, _ = await ctx.rs.update(ctx.namespace, ctx.info.name, transform, opts)
    return ctx.respond(_scale_view(strategy, result))


def _must(obj: Obj | None) -> Obj:
    if obj is None:
        raise errors.internal_error("object vanished during update")
    return obj


# ---- pods --------------------------------------------------------------------------------

async def pod_binding(ctx: handlers.RequestContext) -> web.StreamResponse:
    binding = await handlers.read_body_object(ctx, "binding")
    name = ctx.info.name or binding.get("metadata", {}).get("name", "")
    target = binding.get("target") or {}
    node = target.get("name")
    if not node:
        raise errors.invalid_object("Binding", name, [errors.required("target.name")])
    if target.get("kind", "Node") not in ("Node", ""):
        raise errors.invalid_object("Binding", name, [errors.not_supported(
            "target.kind", target.get("kind"), ["Node", "<empty>"])])
    server = ctx.server
    pods: ResourceStore | None = server.resources.for_kind("", "Pod")
    if pods is None:
        raise errors.internal_error("pods are not served")
    uid = binding.get("metadata", {}).get("uid")

    def transform(cur: Obj | None) -> Obj:
        pod = _must(cur)
        if uid and pod["metadata"].get("uid") != uid:
            raise errors.conflict("pods", name, "Precondition failed: UID mismatch")
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods/binding", name, "pod is being deleted, cannot be "
                                  "assigned to a host")
        assigned = pod.get("spec", {}).get("nodeName")
        if assigned:
            raise errors.conflict("pods/binding", name,
                                  f"pod {name} is already assigned to node \"{assigned}\"")
        pod["spec"]["nodeName"] = node
        status = pod.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": objectmeta.now_rfc3339()})
        status["conditions"] = conds
        return pod

    opts = ctx.write_options("UPDATE", name, store=pods)
    # Binding writes spec.nodeName and the PodScheduled condition together; the store
    # applies no update strategy for it (only this transform changes the pod).
    opts.subresource = "binding"
    # Upstream assigns the pod in storage directly, under no field manager: a binding adds
    # no managedFields entry (and skipping the field comparison halves its cost).
    opts.track = None
    await pods.update(ctx.info.namespace, name, transform, opts, retry_on_conflict=True)
    return ctx.respond({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Success", "code": 201}, 201)


async def pod_eviction(ctx: handlers.RequestContext) -> web.StreamResponse:
    eviction = await handlers.read_body_object(ctx, "eviction")
    await ctx.admission.validate(ctx.admission_request("CREATE", ctx.info.name), eviction,
                                 None)
    opts = DeleteOptions(dry_run=ctx.dry_run)
    del_opts = eviction.get("deleteOptions") or {}
    if isinstance(del_opts, dict) and "gracePeriodSeconds" in del_opts:
        opts.grace_period_seconds = int(del_opts["gracePeriodSeconds"])
    pod = (await ctx.rs.get(ctx.namespace, ctx.info.name)).obj
    await admit_eviction(ctx.server.resources, pod, ctx.dry_run)
    await ctx.rs.delete(ctx.namespace, ctx.info.name, opts)
    return ctx.respond({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Success", "code": 201}, 201)


# ---- serviceaccounts/token ---------------------------------------------------------------

async def service_account_token(ctx: handlers.RequestContext) -> web.StreamResponse:
    """TokenRequest: a signed token for the ServiceAccount (``kubectl create token``)."""
    request = await handlers.read_body_object(ctx, "token")
    server = ctx.server
    answer = await server.tokens.token_request(ctx.info.namespace, ctx.info.name, request)
    return ctx.respond(answer, 201)


# ---- reviews -----------------------------------------------------------------------------

async def _review_body(ctx: handlers.RequestContext) -> Obj:
    return await handlers.read_body_object(ctx, "")


async def _access(ctx: handlers.RequestContext, user: Any, spec: Obj) -> Obj:
    from kubesmith.apiserver.authn import UserInfo

    attrs_r = spec.get("resourceAttributes")
    attrs_n = spec.get("nonResourceAttributes")
    if not isinstance(user, UserInfo):
        raise errors.internal_error("bad user")
    if isinstance(attrs_r, dict):
        attrs = Attributes(user, attrs_r.get("verb", ""), True, "", attrs_r.get("group", ""),
                           attrs_r.get("version", ""), attrs_r.get("resource", ""),
                           attrs_r.get("subresource", ""), attrs_r.get("namespace", ""),
                           attrs_r.get("name", ""))
    elif isinstance(attrs_n, dict):
        attrs = Attributes(user, attrs_n.get("verb", ""), False, attrs_n.get("path", ""))
    else:
        raise errors.invalid_object(ctx.rt.kind, "", [errors.required(
            "spec.resourceAttributes", "exactly one of nonResourceAttributes or "
            "resourceAttributes must be specified")], ctx.rt.group)
    decision, reason = await ctx.server.authz.authorize(attrs)
    status: Obj = {"allowed": decision is Decision.ALLOW}
    if decision is Decision.DENY:
        status["denied"] = True
    if reason:
        status["reason"] = reason
    return status


async def self_subject_access_review(ctx: handlers.RequestContext) -> web.StreamResponse:
    review = await _review_body(ctx)
    review["status"] = await _access(ctx, ctx.user, review.get("spec") or {})
    review.setdefault("metadata", {})["creationTimestamp"] = None
    return ctx.respond(review, 201)


async def subject_access_review(ctx: handlers.RequestContext) -> web.StreamResponse:
    from kubesmith.apiserver.authn import UserInfo

    review = await _review_body(ctx)
    spec = review.get("spec") or {}
    if not spec.get("user") and not spec.get("groups"):
        raise errors.invalid_object(ctx.rt.kind, "", [errors.required(
            "spec.user", "at least one of user or group must be specified")], ctx.rt.group)
    user = UserInfo(spec.get("user", ""), spec.get("uid", ""), tuple(spec.get("groups") or ()),
                    dict(spec.get("extra") or {}))
    if ctx.rt.plural == "localsubjectaccessreviews":
        attrs = spec.get("resourceAttributes") or {}
        if attrs.get("namespace", ctx.info.namespace) != ctx.info.namespace:
            raise errors.bad_request("spec.resourceAttributes.namespace must match the "
                                     "namespace of the request")
    review["status"] = await _access(ctx, user, spec)
    review.setdefault("metadata", {})["creationTimestamp"] = None
    return ctx.respond(review, 201)


async def self_subject_rules_review(ctx: handlers.RequestContext) -> web.StreamResponse:
    """What the caller may do in a namespace (``kubectl auth can-i --list``)."""
    review = await _review_body(ctx)
    namespace = (review.get("spec") or {}).get("namespace") or ""
    server = ctx.server
    rules, url_rules, incomplete = server.rbac.rules_for(ctx.user, namespace)
    _, problems = server.rbac.resolve(ctx.user, namespace) if incomplete else ([], [])

    def resource_rule(r: Any) -> Obj:
        out = {k: v for k, v in r.to_json().items()
               if k in ("verbs", "apiGroups", "resources", "resourceNames")}
        out.setdefault("apiGroups", [])
        return out

    status: Obj = {
        "resourceRules": [resource_rule(r) for r in rules],
        "nonResourceRules": [{"verbs": r.to_json().get("verbs", []),
                              "nonResourceURLs": r.to_json().get("nonResourceURLs", [])}
                             for r in url_rules],
        "incomplete": incomplete,
    }
    if problems:
        status["evaluationError"] = "; ".join(problems)
    review["status"] = status
    review.setdefault("metadata", {})["creationTimestamp"] = None
    return ctx.respond(review, 201)


async def self_subject_review(ctx: handlers.RequestContext) -> web.StreamResponse:
    review = await _review_body(ctx)
    review["status"] = {"userInfo": ctx.user.to_json()}
    review.setdefault("metadata", {})["creationTimestamp"] = objectmeta.now_rfc3339()
    return ctx.respond(review, 201)


async def token_review(ctx: handlers.RequestContext) -> web.StreamResponse:
    review = await _review_body(ctx)
    token = (review.get("spec") or {}).get("token")
    if not token:
        raise errors.invalid_object(ctx.rt.kind, "", [errors.required("spec.token")],
                                    ctx.rt.group)
    server = ctx.server
    audiences = (review.get("spec") or {}).get("audiences") or None
    user = await server.authenticate_token(str(token), audiences)
    status: Obj = {"authenticated": False}
    if user is not None:
        status = {"authenticated": True, "user": user.to_json(),
                  "audiences": audiences or server.tokens.api_audiences}
    review["status"] = status
    review.setdefault("metadata", {})["creationTimestamp"] = None
    return web.Response(body=orjson.dumps(review), status=201,
                        content_type="application/json")


_REVIEWS: dict[str, Handler] = {
    "selfsubjectaccessreviews": self_subject_access_review,
    "subjectaccessreviews": subject_access_review,
    "localsubjectaccessreviews": subject_access_review,
    "selfsubjectreviews": self_subject_review,
    "selfsubjectrulesreviews": self_subject_rules_review,
    "tokenreviews": token_review,
}
