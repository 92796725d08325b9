"""Image garbage collection policy, as the kubelet's image manager applies it.

When the filesystem holding the images is at or above ``high_percent`` used, unused images
are removed, least recently used first, until usage is back at ``low_percent`` (measured
after each removal: layers shared with images that stay free nothing, so estimating from
image sizes would overshoot). Images used by containers are never candidates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

# (capacity bytes, available bytes) of the filesystem holding a path.
DiskUsage = Callable[[Path], tuple[int, int]]


def statvfs_usage(path: Path) -> tuple[int, int]:
    """Capacity and space available to unprivileged users, as ``df`` reports them."""
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def usage_percent(capacity: int, available: int) -> int:
    """The kubelet's rounding: 100 minus the truncated available percentage."""
    return 100 - int(available * 100 / capacity) if capacity else 0


def collect(path: Path, candidates: Iterable[tuple[str, float]], remove: Callable[[str], None],
            *, high_percent: int, low_percent: int,
            disk_usage: DiskUsage = statvfs_usage) -> list[str]:
    """Remove ``candidates`` ((image id, last used time)) oldest first while the disk
    holding ``path`` needs it; returns the removed ids."""
    if not 0 <= low_percent <= high_percent <= 100:
        raise ValueError("need 0 <= low_percent <= high_percent <= 100")
    capacity, available = disk_usage(path)
    if usage_percent(capacity, available) < high_percent:
        return []
    wanted_available = capacity * (100 - low_percent) // 100
    removed: list[str] = []
    for image_id, _ in sorted(candidates, key=lambda c: c[1]):
        if available >= wanted_available:
            break
        remove(image_id)
        removed.append(image_id)
        capacity, available = disk_usage(path)
    return removed
