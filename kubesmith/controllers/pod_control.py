"""How the workload controllers (ReplicaSet, DaemonSet, Job) write pods: pods made from a
template and owned by their controller, with the events upstream's ``RealPodControl``
records on the owner (``SuccessfulCreate`` "Created pod: x", ``FailedCreate`` "Error
creating: ...", ``SuccessfulDelete``, ``FailedDelete``), and the slow-start batching they
create pods in.

Slow start: creations go in concurrent batches of 1, 2, 4, ...; after the first batch with a
failure the rest are not even tried, so an owner whose pods are all refused (quota,
admission) fails fast instead of flooding the API with doomed requests.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import PODS
from kubesmith.controllers.util import is_namespace_terminating, meta, owner_reference

#: The size of the first batch of creations (each later batch is twice as large).
SLOW_START_INITIAL_BATCH = 1

T = TypeVar("T")


class PodControl:
    """Creates and deletes the pods of one controller's owners, recording events on them."""

    def __init__(self, client: Client, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder

    @staticmethod
    def pod_from_template(owner: Obj, template: dict[str, Any], generate_name: str = ""
                          ) -> Obj:
        """A pod body for ``owner`` (controlled by it) from the pod ``template``."""
        template_meta = template.get("metadata") or {}
        pod_meta: dict[str, Any] = {
            "generateName": generate_name or f"{meta(owner)['name']}-",
            "namespace": meta(owner)["namespace"],
            "labels": dict(template_meta.get("labels") or {}),
            "ownerReferences": [owner_reference(owner)],
        }
        if template_meta.get("annotations"):
            pod_meta["annotations"] = dict(template_meta["annotations"])
        if template_meta.get("finalizers"):
            pod_meta["finalizers"] = list(template_meta["finalizers"])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
                "spec": copy.deepcopy(template.get("spec") or {})}

    async def create(self, owner: Obj, template: dict[str, Any], generate_name: str = ""
                     ) -> None:
        """Create one pod; records ``SuccessfulCreate`` or ``FailedCreate`` (none when the
        namespace is being deleted: that refusal is expected) and raises the refusal."""
        body = self.pod_from_template(owner, template, generate_name)
        try:
            created = await self.client.create(PODS, body, meta(owner)["namespace"])
        except ApiError as exc:
            if not is_namespace_terminating(exc):
                self.recorder.event(owner, "Warning", "FailedCreate",
                                    f"Error creating: {exc.message}")
            raise
        self.recorder.event(owner, "Normal", "SuccessfulCreate",
                            f"Created pod: {meta(created).get('name')}")

    async def delete(self, owner: Obj, pod_name: str) -> None:
        """Delete the pod ``pod_name`` of ``owner`` (its namespace; finalizers stay).
        Raises :class:`ApiError`, 404 included: the caller decides whether a pod already
        gone still needs accounting; a 404 records no ``FailedDelete``."""
        try:
            await self.client.delete(PODS, pod_name, meta(owner)["namespace"])
        except ApiError as exc:
            if exc.code != 404:
                self.recorder.event(owner, "Warning", "FailedDelete",
                                    f"Error deleting: {exc.message}")
            raise
        self.recorder.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {pod_name}")


async def gather_errors(calls: Sequence[Awaitable[None]]) -> list[Exception | None]:
    """Await ``calls`` concurrently; the exception of each (None for success).
    Cancellation (and any other non-``Exception``) propagates."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    errors: list[Exception | None] = []
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result
        errors.append(result if isinstance(result, Exception) else None)
    return errors


async def slow_start_batch(items: Sequence[T], fn: Callable[[T], Awaitable[None]],
                           initial: int = SLOW_START_INITIAL_BATCH
                           ) -> tuple[int, Exception | None]:
    """Call ``fn`` on each of ``items`` in concurrent batches of ``initial``, doubling
    while every call succeeds; stop after the first batch with a failure. Returns the
    number of successes and the first error."""
    successes, pos = 0, 0
    batch = min(len(items), initial)
    while batch > 0:
        errors = [e for e in await gather_errors([fn(item) for item in
                                                  items[pos:pos + batch]]) if e is not None]
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        pos += batch
        batch = min(2 * batch, len(items) - pos)
    return successes, None
