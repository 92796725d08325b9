"""Patch requests and field ownership, bound to a resource type.

Chooses the engine by media type (JSON patch, merge patch, strategic merge patch,
server-side apply), supplies each the resource's OpenAPI schema, refuses strategic merge
patch on custom resources with 415 as upstream does, and returns the write hook that keeps
``metadata.managedFields`` current on every non-apply write.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from kubesmith.api import errors, managedfields, objectmeta, patch
from kubesmith.api.store import WriteHook
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj
from kubesmith.apiserver import negotiation


@functools.lru_cache(maxsize=256)
def manager_from_user_agent(user_agent: str) -> str:
    """The default field manager for a User-Agent (memoised: clients repeat theirs)."""
    return managedfields.manager_from_user_agent(user_agent)


def patcher(strategy: Strategy, content_type: str, doc: Any, *, manager: str,
            force: bool, subresource: str, kind: str | None = None
            ) -> Callable[[Obj | None], Obj]:
    """A transform for the store's update loop applying ``doc`` to the current object."""
    rt = strategy.rt
    node = strategy.schema_node(kind)
    if content_type == negotiation.APPLY_PATCH:
        def apply(current: Obj | None) -> Obj:
            return managedfields.apply(
                current, doc, manager, force=force, api_version=rt.api_version,
                now=objectmeta.now_rfc3339(), node=node, subresource=subresource)
        return apply
    if content_type == negotiation.STRATEGIC_PATCH and (
            node is None or not strategy.supports_strategic_merge):
        raise errors.unsupported_media_type(content_type)

    def apply_patch(current: Obj | None) -> Obj:
        if current is None:
            raise errors.not_found(rt.plural, "", rt.group)
        result = patch.apply_patch(content_type, current, doc, node)
        if not isinstance(result, dict):
            raise errors.bad_request("the patch produced a value that is not an object")
        return result
    return apply_patch


def field_tracker(strategy: Strategy, manager: str) -> WriteHook:
    """The hook recording ``manager``'s changes in managedFields on a non-apply write
    (one per strategy and manager, reused across requests)."""
    hooks = strategy.field_trackers
    hook = hooks.get(manager)
    if hook is not None:
        return hook
    rt = strategy.rt
    node = strategy.schema_node()

    def track(old: Obj | None, new: Obj, subresource: str) -> None:
        managedfields.track_update(old, new, manager, api_version=rt.api_version,
                                   now=objectmeta.now_rfc3339(), subresource=subresource,
                                   node=node)
    if len(hooks) < 1024:  # bounded: managers are client-chosen strings
        hooks[manager] = track
    return track
