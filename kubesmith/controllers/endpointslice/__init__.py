"""The EndpointSlice controller: desired endpoints (:mod:`.desired`), minimal-churn slice
planning and writing (:mod:`.reconciler`), expectations of the cache (:mod:`.tracker`) and
the controller itself (:mod:`.controller`)."""

from kubesmith.controllers.endpointslice.controller import EndpointSliceController

__all__ = ["EndpointSliceController"]
