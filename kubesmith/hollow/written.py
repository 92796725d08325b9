"""Remembering what we wrote until the informer has seen it (client-go's mutation cache).

After a write, the informer's copy stays stale until the watch event arrives. A reconcile
running in between would compare against the stale copy and write the same change again —
for 10,000 pods that doubles the writes. :class:`WrittenObjects` keeps each object as the
server returned it from our write and hands out whichever of that and the cached copy is
newer, dropping ours once the cache has caught up.

Which is newer is decided by ``resourceVersion``. Clients are told to treat it as opaque;
kubesmith's (like etcd's) is the datastore's revision, an increasing integer, and a
non-numeric version simply makes the cached copy win.
"""

from __future__ import annotations

from kubesmith.api.types import Obj


def _revision(obj: Obj) -> int | None:
    raw = (obj.get("metadata") or {}).get("resourceVersion")
    if not isinstance(raw, str) or not raw.isdigit():
        return None
    return int(raw)


class WrittenObjects:
    """The objects we wrote, by key, until the informer cache shows them (or newer)."""

    def __init__(self) -> None:
        self._written: dict[str, Obj] = {}

    def __len__(self) -> int:
        return len(self._written)

    def remember(self, key: str, obj: Obj) -> None:
        """Record ``obj`` as returned by our write of ``key``."""
        self._written[key] = obj

    def forget(self, key: str) -> None:
        """Drop what we wrote for ``key`` (the object was deleted)."""
        self._written.pop(key, None)

    def newest(self, key: str, cached: Obj | None) -> Obj | None:
        """The newer of ``cached`` and our last write of ``key``."""
        written = self._written.get(key)
        if written is None:
            return cached
        if cached is None:
            return written
        ours, theirs = _revision(written), _revision(cached)
        if ours is None or theirs is None or theirs >= ours:
            del self._written[key]
            return cached
        return written
