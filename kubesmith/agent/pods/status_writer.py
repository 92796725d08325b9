"""Writing pod statuses: the kubelet's status manager.

* Only the difference is sent: a JSON merge patch of ``pods/status`` computed against the
  newest status we know; nothing is sent when nothing changed.
* The patch carries ``metadata.uid``, which the API server treats as a precondition: a pod
  deleted and re-created under the same name is never written with the old pod's status
  (409), and neither is a pod that is gone (404) — both end the write quietly.
* After a write the informer's copy is stale until its watch event arrives; the pod as the
  server returned it is kept (by uid) and handed out by :meth:`StatusWriter.newest` while it
  is newer, so a sync in between does not see its own write as missing and repeat it.
* Other failures (the server restarting) are retried with a doubling delay up to a few
  seconds, then raised to the pod worker, which retries its whole sync later.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import PODS
from kubesmith.podstatus.diff import merge_patch

log = logging.getLogger(__name__)

_RETRIES = 4
_FIRST_DELAY = 0.2


def _revision(obj: Obj) -> int | None:
    raw = (obj.get("metadata") or {}).get("resourceVersion")
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


class StatusWriter:
    """Patches pod statuses (see the module docstring)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._written: dict[str, Obj] = {}
        #: Status writes sent (a cost measure for tests and benchmarks).
        self.writes = 0

    def newest(self, cached: Obj | None, uid: str) -> Obj | None:
        """The newer of the informer's ``cached`` pod and the pod our last write returned."""
        written = self._written.get(uid)
        if written is None:
            return cached
        if cached is None or (cached.get("metadata") or {}).get("uid") != uid:
            return cached
        ours, theirs = _revision(written), _revision(cached)
        if ours is None or theirs is None or theirs >= ours:
            del self._written[uid]
            return cached
        return written

    def forget(self, uid: str) -> None:
        """Drop what we remember of a pod that is gone."""
        self._written.pop(uid, None)

    async def write(self, pod: Obj, desired: Obj) -> Obj | None:
        """Make ``pod``'s status ``desired``; returns the pod as updated (``pod`` itself when
        nothing changed), None when the pod is gone or was replaced."""
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        patch = merge_patch(pod.get("status") or {}, desired)
        if not patch:
            return pod
        body = {"metadata": {"uid": uid}, "status": patch}
        delay = _FIRST_DELAY
        for attempt in range(_RETRIES + 1):
            try:
                updated = await self.client.patch(PODS, str(meta.get("name")), body,
                                                  str(meta.get("namespace")),
                                                  subresource="status")
            except ApiError as exc:
                if exc.code in (404, 409):
                    return None
                if attempt == _RETRIES or exc.code in (400, 403, 422):
                    raise
                log.info("pod %s/%s: status write failed (%s %s); retrying",
                         meta.get("namespace"), meta.get("name"), exc.code, exc.message)
            except (aiohttp.ClientError, OSError, TimeoutError):
                if attempt == _RETRIES:
                    raise
            else:
                self.writes += 1
                self._written[uid] = updated
                return updated
            await asyncio.sleep(delay)
            delay *= 2
        return None  # pragma: no cover - the loop returns or raises

    async def delete(self, pod: Obj) -> None:
        """Remove the pod object once everything of it on the node is gone (grace 0, with a
        uid precondition, as the kubelet finishes a graceful deletion)."""
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        try:
            await self.client.delete(PODS, str(meta.get("name")), str(meta.get("namespace")),
                                     grace_period_seconds=0, preconditions={"uid": uid})
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise
        self.forget(uid)
