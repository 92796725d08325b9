"""Which pods a Job owns: those it controls and still selects, plus matching orphans it
adopts (upstream's ``PodControllerRefManager`` with the tracking finalizer)."""

from __future__ import annotations

from kubesmith.api.selectors import SelectorError, label_selector_from_object
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer
from kubesmith.client.rest import JOBS, PODS
from kubesmith.controllers.job.pods import TRACKING_FINALIZER
from kubesmith.controllers.ownership import (
    CONTROLLER_UID_INDEX,
    ORPHANS_INDEX,
    add_ownership_indexes,
    fresh_parent_check,
)
from kubesmith.controllers.util import (
    is_terminating,
    labels_of,
    meta,
    owner_reference,
    uid_of,
)


class PodClaimer:
    """Claims pods for Jobs from the shared pod informer. Unlike the workload controllers'
    claimer, adoption adds and release removes the Job tracking finalizer in the same
    patch, so a pod is never owned but uncounted."""

    def __init__(self, client: Client, pods: Informer) -> None:
        self.client = client
        self.pods = pods
        # Shared with the other workload controllers: one index per informer.
        add_ownership_indexes(pods)

    async def pods_for_job(self, job: Obj) -> list[Obj]:
        """The Job's pods: those it controls and still selects, plus matching orphans it
        adopts (with the tracking finalizer); pods it no longer selects are released."""
        try:
            selector = label_selector_from_object((job.get("spec") or {}).get("selector"))
        except SelectorError as exc:
            raise ValueError(f"couldn't convert Job selector: {exc}") from exc
        uid = uid_of(job)
        deleting = is_terminating(job)
        claimed: list[Obj] = []
        errors: list[ApiError] = []
        for pod in self.pods.by_index(CONTROLLER_UID_INDEX, uid):
            if selector.matches(labels_of(pod)):
                claimed.append(pod)
            elif not deleting:
                await self._release(job, pod, errors)
        orphans = [p for p in self.pods.by_index(ORPHANS_INDEX,
                                                 str(meta(job).get("namespace")))
                   if not deleting and not is_terminating(p)
                   and selector.matches(labels_of(p))]
        # The cache may not show yet that the Job is being deleted: ask the server.
        if orphans and await fresh_parent_check(self.client, JOBS, job)():
            for pod in orphans:
                adopted = await self._adopt(job, pod, errors)
                if adopted is not None:
                    claimed.append(adopted)
        if errors:
            raise errors[0]
        return claimed

    async def _adopt(self, job: Obj, pod: Obj, errors: list[ApiError]) -> Obj | None:
        patch = {"metadata": {"ownerReferences": [owner_reference(job)], "uid": uid_of(pod),
                              "finalizers": [TRACKING_FINALIZER]}}
        try:
            return await self.client.patch(PODS, meta(pod)["name"], patch,
                                           meta(pod)["namespace"], patch_type="strategic")
        except ApiError as exc:
            if exc.code != 404:
                errors.append(exc)
            return None

    async def _release(self, job: Obj, pod: Obj, errors: list[ApiError]) -> None:
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid_of(job)}],
                              "uid": uid_of(pod),
                              "$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}
        try:
            await self.client.patch(PODS, meta(pod)["name"], patch, meta(pod)["namespace"],
                                    patch_type="strategic")
        except ApiError as exc:
            # Gone, or no longer ours to release (uid changed): nothing to do.
            if exc.code not in (404, 422):
                errors.append(exc)
