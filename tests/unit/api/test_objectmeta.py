"""Server-owned metadata values."""

from __future__ import annotations

import re
import uuid

from kubesmith.api.objectmeta import new_uid, now_rfc3339


def test_uids_are_random_v4_and_timestamps_rfc3339() -> None:
    uids = {new_uid() for _ in range(500)}
    assert len(uids) == 500
    for u in uids:
        parsed = uuid.UUID(u)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == u
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now_rfc3339())
