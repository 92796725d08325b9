"""The Job controller's writes to pods: the shared :class:`PodControl` plus the removal of
the Job tracking finalizer."""

from __future__ import annotations

from kubesmith.api.types import Obj
from kubesmith.client.rest import PODS
from kubesmith.controllers.job.pods import remove_tracking_finalizer_patch
from kubesmith.controllers.pod_control import PodControl
from kubesmith.controllers.util import meta


class JobPodControl(PodControl):
    """Creates, deletes and un-finalizes the pods of Jobs."""

    async def remove_tracking_finalizer(self, pod: Obj) -> None:
        """Drop the tracking finalizer (404 raises: callers decide what a gone pod means)."""
        patch = remove_tracking_finalizer_patch(pod)
        if patch is not None:
            await self.client.patch(PODS, meta(pod)["name"], patch, meta(pod)["namespace"],
                                    patch_type="strategic")
