"""What the EndpointSlice controller expects its informer cache to show after its own
writes (upstream's ``EndpointSliceTracker``).

After a create or update the tracker remembers the slice's generation; after a delete, that
the slice should disappear. A sync whose cache still shows an older generation, misses a
slice just created or still has one just deleted would plan from stale data and duplicate
or drop endpoints, so it is retried later instead. Informer events that merely echo the
controller's own writes are recognised and do not trigger another sync.
"""

from __future__ import annotations

from kubesmith.api.types import Obj
from kubesmith.controllers.util import int_value, meta, uid_of

_DELETED = -1


def _generation(endpoint_slice: Obj) -> int:
    return int_value(meta(endpoint_slice).get("generation"))


class EndpointSliceTracker:
    """Expected generations of slices, by Service key and slice uid."""

    def __init__(self) -> None:
        self._by_service: dict[str, dict[str, int]] = {}
        self._service_of: dict[str, str] = {}

    def expect(self, service_key: str, endpoint_slice: Obj) -> None:
        """Record a slice as written (the object the API server returned)."""
        uid = uid_of(endpoint_slice)
        self._by_service.setdefault(service_key, {})[uid] = _generation(endpoint_slice)
        self._service_of[uid] = service_key

    def expect_deletion(self, service_key: str, endpoint_slice: Obj) -> None:
        """Record a slice as deleted."""
        uid = uid_of(endpoint_slice)
        self._by_service.setdefault(service_key, {})[uid] = _DELETED
        self._service_of[uid] = service_key

    def has(self, endpoint_slice: Obj) -> bool:
        """Whether the slice is tracked at all."""
        return uid_of(endpoint_slice) in self._service_of

    def should_sync(self, endpoint_slice: Obj) -> bool:
        """Whether an informer event for the slice is news (not the echo of our write)."""
        uid = uid_of(endpoint_slice)
        service = self._service_of.get(uid)
        if service is None:
            return True
        expected = self._by_service.get(service, {}).get(uid)
        return expected is None or _generation(endpoint_slice) > expected

    def handle_deletion(self, endpoint_slice: Obj) -> bool:
        """Forget a deleted slice; True when we deleted it ourselves."""
        uid = uid_of(endpoint_slice)
        service = self._service_of.pop(uid, None)
        if service is None:
            return False
        expected = self._by_service.get(service, {}).pop(uid, None)
        return expected == _DELETED

    def stale(self, service_key: str, slices: list[Obj]) -> bool:
        """Whether the cached ``slices`` of the Service predate our last writes."""
        expected = self._by_service.get(service_key)
        if not expected:
            return False
        seen: set[str] = set()
        for endpoint_slice in slices:
            uid = uid_of(endpoint_slice)
            seen.add(uid)
            generation = expected.get(uid)
            if generation is not None and (generation == _DELETED or
                                           generation > _generation(endpoint_slice)):
                return True
        return any(g != _DELETED and uid not in seen for uid, g in expected.items())

    def forget_service(self, service_key: str) -> None:
        """Drop a deleted Service's expectations."""
        for uid in self._by_service.pop(service_key, {}):
            self._service_of.pop(uid, None)
