"""The EndpointSlice controller (discovery.k8s.io/v1): for every Service with a selector,
EndpointSlices labelled ``kubernetes.io/service-name`` and managed-by
``endpointslice-controller.k8s.io``, owned by the Service (the garbage collector removes
them with it), at most 100 endpoints each, one set per IP family the Service serves.

Handlers only queue Service keys: Service events, pod changes that can alter an endpoint
(through :class:`~kubesmith.controllers.endpoint_common.ServicePods`) and slice changes
that are not the echo of our own writes (queued after a second, to batch them). A worker
reads the caches, refuses to plan from a cache older than its last writes (looking again a
second later) and writes the minimal plan of :mod:`.reconciler`; failures are retried with
a backoff starting at 1 s.
"""

from __future__ import annotations

import logging

from kubesmith.api.types import Obj
from kubesmith.client import ExponentialBackoff, WorkQueue
from kubesmith.client.rest import ENDPOINTSLICES, NODES, PODS, SERVICES
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.endpoint_common import (
    ServicePods,
    TriggerTimeTracker,
    service_ip_families,
    service_selector,
)
from kubesmith.controllers.endpointslice.desired import desired_endpoints
from kubesmith.controllers.endpointslice.reconciler import (
    CONTROLLER_NAME,
    MANAGED_BY_LABEL,
    MAX_ENDPOINTS_PER_SLICE,
    SERVICE_NAME_LABEL,
    SlicePlan,
    SliceWriter,
    plan_slices,
)
from kubesmith.controllers.endpointslice.tracker import EndpointSliceTracker
from kubesmith.controllers.util import is_terminating, labels_of, meta

log = logging.getLogger(__name__)

#: Informer index of slices by the ``namespace/service`` their label names.
SERVICE_INDEX = "endpointslice-service"
#: Slice events are batched: the Service is synced at most this soon after one.
SLICE_CHANGE_MIN_DELAY = 1.0


def _service_key(endpoint_slice: Obj) -> str | None:
    service = labels_of(endpoint_slice).get(SERVICE_NAME_LABEL)
    if not service:
        return None
    return f"{meta(endpoint_slice).get('namespace')}/{service}"


def _managed(endpoint_slice: Obj) -> bool:
    return labels_of(endpoint_slice).get(MANAGED_BY_LABEL) == CONTROLLER_NAME


class EndpointSliceController(Controller):
    name = "endpointslice-controller"
    component = "endpoint-slice-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        # Upstream backs off from 1 s here: a retry usually waits for the cache to catch up.
        self.queue = WorkQueue(ExponentialBackoff(1.0, 1000.0))
        self.services = self.informer(SERVICES)
        self.pods = self.informer(PODS)
        self.nodes = self.informer(NODES)
        self.slices = self.informer(ENDPOINTSLICES)
        self.slices.add_index(SERVICE_INDEX, lambda s: [k] if (k := _service_key(s)) else [])
        self.services.add_handlers(on_add=self.enqueue,
                                   on_update=lambda _old, new: self.enqueue(new),
                                   on_delete=self.enqueue)
        self.slices.add_handlers(on_add=self._slice_added, on_update=self._slice_updated,
                                 on_delete=self._slice_deleted)
        self.membership = ServicePods(self.services, self.pods, self.queue_key)
        self.tracker = EndpointSliceTracker()
        self.trigger_times = TriggerTimeTracker()
        self.writer = SliceWriter(self.client, self.tracker)

    def queue_key(self, key: str) -> None:
        """Queue a Service key (the queue is replaced when the controller restarts)."""
        self.queue.add(key)

    # -- slice events ----------------------------------------------------------------------

    def _queue_for_slice(self, endpoint_slice: Obj) -> None:
        key = _service_key(endpoint_slice)
        if key is not None:
            self.queue.add_after(key, SLICE_CHANGE_MIN_DELAY)

    def _slice_added(self, endpoint_slice: Obj) -> None:
        if _managed(endpoint_slice) and self.tracker.should_sync(endpoint_slice):
            self._queue_for_slice(endpoint_slice)

    def _slice_updated(self, old: Obj, new: Obj) -> None:
        if _service_key(old) != _service_key(new):
            # Someone relabelled it: both Services need a look.
            self._queue_for_slice(old)
            self._queue_for_slice(new)
        elif _managed(old) != _managed(new) or \
                (_managed(new) and self.tracker.should_sync(new)):
            self._queue_for_slice(new)

    def _slice_deleted(self, endpoint_slice: Obj) -> None:
        if _managed(endpoint_slice) and self.tracker.has(endpoint_slice) and \
                not self.tracker.handle_deletion(endpoint_slice):
            self._queue_for_slice(endpoint_slice)

    # -- sync ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        service = self.services.get(key)
        if service is None:
            self.trigger_times.forget(key)
            self.tracker.forget_service(key)
            return
        selector = service_selector(service)
        if selector is None:
            return
        pods = self.membership.pods_for(service, selector)
        slices = [s for s in self.slices.by_index(SERVICE_INDEX, key)
                  if _managed(s) and not is_terminating(s)]
        if self.tracker.stale(key, slices):
            # Routine right after our own writes: look again once the cache caught up.
            log.debug("%s: EndpointSlice informer cache is out of date; retrying", key)
            self.queue.add_after(key, SLICE_CHANGE_MIN_DELAY)
            return
        trigger_time = self.trigger_times.compute(key, service, pods)
        families = service_ip_families(service)
        plan = SlicePlan()
        errors: list[str] = []
        for family in families:
            desired = desired_endpoints(service, pods, self.nodes.get, family)
            errors += desired.errors
            existing = [s for s in slices if s.get("addressType") == family]
            part = plan_slices(service, existing, desired.by_ports, family,
                               MAX_ENDPOINTS_PER_SLICE)
            plan.create += part.create
            plan.update += part.update
            plan.delete += part.delete
        # Slices of a family the Service no longer serves.
        plan.delete += [s for s in slices if s.get("addressType") not in families]
        try:
            if not plan.empty:
                await self.writer.write(service, plan, trigger_time)
            if errors:
                raise RuntimeError("; ".join(errors))
        except Exception as exc:
            ns, name = meta(service).get("namespace"), meta(service).get("name")
            self.recorder.event(service, "Warning", "FailedToUpdateEndpointSlices",
                                f"Error updating Endpoint Slices for Service {ns}/{name}: "
                                f"{exc}")
            raise
