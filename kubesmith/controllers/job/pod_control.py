"""The Job controller's writes to pods, with the events upstream's ``RealPodControl``
records on the Job (``SuccessfulCreate`` "Created pod: x", ``SuccessfulDelete``...)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Sequence
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import PODS
from kubesmith.controllers.job.pods import remove_tracking_finalizer_patch
from kubesmith.controllers.util import meta, owner_reference

#: The first batch of creations has one pod, each later batch twice as many, so a Job whose
#: pods are all refused (quota, admission) fails fast instead of flooding the API.
SLOW_START_INITIAL_BATCH = 1


def is_namespace_terminating(exc: ApiError) -> bool:
    """Whether the refusal is because the namespace is being deleted."""
    causes = (exc.details or {}).get("causes") or []
    return any(isinstance(c, dict) and c.get("type") == "NamespaceTerminating"
               for c in causes) or "being terminated" in exc.message


class PodControl:
    """Creates, deletes and un-finalizes the pods of Jobs."""

    def __init__(self, client: Client, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder

    def pod_from_template(self, job: Obj, template: dict[str, Any], generate_name: str
                          ) -> Obj:
        """A pod body for ``job`` from its (prepared) template."""
        template_meta = template.get("metadata") or {}
        pod_meta: dict[str, Any] = {
            "generateName": generate_name or f"{meta(job)['name']}-",
            "namespace": meta(job)["namespace"],
            "labels": dict(template_meta.get("labels") or {}),
            "ownerReferences": [owner_reference(job)],
        }
        if template_meta.get("annotations"):
            pod_meta["annotations"] = dict(template_meta["annotations"])
        if template_meta.get("finalizers"):
            pod_meta["finalizers"] = list(template_meta["finalizers"])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
                "spec": copy.deepcopy(template.get("spec") or {})}

    async def create(self, job: Obj, template: dict[str, Any], generate_name: str = ""
                     ) -> None:
        """Create one pod; records ``SuccessfulCreate`` or ``FailedCreate``."""
        body = self.pod_from_template(job, template, generate_name)
        try:
            created = await self.client.create(PODS, body, meta(job)["namespace"])
        except ApiError as exc:
            if not is_namespace_terminating(exc):
                self.recorder.event(job, "Warning", "FailedCreate",
                                    f"Error creating: {exc.message}")
            raise
        self.recorder.event(job, "Normal", "SuccessfulCreate",
                            f"Created pod: {meta(created).get('name')}")

    async def delete(self, job: Obj, pod: Obj) -> None:
        """Delete one pod (finalizers stay); raises :class:`ApiError` (404 included: the
        caller decides whether a pod already gone still needs accounting)."""
        name = meta(pod)["name"]
        try:
            await self.client.delete(PODS, name, meta(pod)["namespace"])
        except ApiError as exc:
            if exc.code != 404:
                self.recorder.event(job, "Warning", "FailedDelete",
                                    f"Error deleting: {exc.message}")
            raise
        self.recorder.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    async def remove_tracking_finalizer(self, pod: Obj) -> None:
        """Drop the tracking finalizer (404 raises: callers decide what a gone pod means)."""
        patch = remove_tracking_finalizer_patch(pod)
        if patch is not None:
            await self.client.patch(PODS, meta(pod)["name"], patch, meta(pod)["namespace"],
                                    patch_type="strategic")


async def gather_errors(calls: Sequence[Awaitable[None]]) -> list[BaseException | None]:
    """Await ``calls`` concurrently; the exception of each (None for success)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    errors: list[BaseException | None] = []
    for result in results:
        if isinstance(result, asyncio.CancelledError):
            raise result
        errors.append(result if isinstance(result, BaseException) else None)
    return errors
