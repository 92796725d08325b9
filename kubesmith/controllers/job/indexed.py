"""Indexed Jobs: completion indexes on pods and the compressed interval lists
(``"0-2,5,7-9"``) of ``status.completedIndexes`` / ``status.failedIndexes``."""

from __future__ import annotations

import bisect
import copy
import re
from collections.abc import Iterable
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.util import meta

COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
INDEX_FAILURE_COUNT_ANNOTATION = "batch.kubernetes.io/job-index-failure-count"
INDEX_IGNORED_FAILURE_COUNT_ANNOTATION = "batch.kubernetes.io/job-index-ignored-failure-count"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
#: Generated names get 5 random characters appended; names are at most 63 long.
MAX_GENERATE_NAME_LENGTH = 58
_MAX_INT32 = 2**31 - 1
_DIGITS = re.compile(r"[+-]?[0-9]+")


def is_indexed(job: Obj) -> bool:
    """Whether ``spec.completionMode`` is Indexed."""
    return (job.get("spec") or {}).get("completionMode") == "Indexed"


def completions_of(job: Obj) -> int:
    """``spec.completions`` (0 when unset; Indexed Jobs always set it)."""
    value = (job.get("spec") or {}).get("completions")
    return int(value) if isinstance(value, int) else 0


def completion_index(pod: Obj) -> int | None:
    """The pod's completion index annotation, None when absent or not a non-negative int."""
    value = (meta(pod).get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION)
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        return None
    index = int(value)
    return index if index >= 0 else None


def _annotation_int32(pod: Obj, key: str) -> int:
    # Anything unparsable or out of range counts as 0, so a user cannot break the count.
    value = (meta(pod).get("annotations") or {}).get(key)
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        return 0
    number = int(value)
    return number if 0 <= number <= _MAX_INT32 else 0


def index_failure_count(pod: Obj) -> int:
    """``batch.kubernetes.io/job-index-failure-count`` (0 when missing or invalid)."""
    return _annotation_int32(pod, INDEX_FAILURE_COUNT_ANNOTATION)


def index_ignored_failure_count(pod: Obj) -> int:
    """``batch.kubernetes.io/job-index-ignored-failure-count`` (0 when missing)."""
    return _annotation_int32(pod, INDEX_IGNORED_FAILURE_COUNT_ANNOTATION)


class Intervals:
    """An ordered list of disjoint, non-adjacent closed intervals of indexes."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[tuple[int, int]] = ()) -> None:
        self.items: list[tuple[int, int]] = list(items)

    @classmethod
    def parse(cls, text: str | None, completions: int) -> Intervals:
        """Read ``"1,3-5"``; indexes at or above ``completions`` are dropped and corrupt
        pieces ignored (as upstream, which logs and skips them)."""
        result: list[tuple[int, int]] = []
        if not text:
            return cls()
        for piece in text.split(","):
            limits = piece.split("-")
            if not _DIGITS.fullmatch(limits[0]):
                continue
            first = int(limits[0])
            if first >= completions:
                break
            if len(limits) > 1:
                if not _DIGITS.fullmatch(limits[1]):
                    continue
                last = min(int(limits[1]), completions - 1)
            else:
                last = first
            if result and result[-1][1] == first - 1:
                result[-1] = (result[-1][0], last)
            else:
                result.append((first, last))
        return cls(result)

    def merge(self, other: Intervals) -> Intervals:
        """The union of both lists."""
        merged: list[tuple[int, int]] = []
        for first, last in sorted([*self.items, *other.items]):
            if merged and first <= merged[-1][1] + 1:
                if last > merged[-1][1]:
                    merged[-1] = (merged[-1][0], last)
            else:
                merged.append((first, last))
        return Intervals(merged)

    def with_indexes(self, indexes: Iterable[int]) -> Intervals:
        """The union with single ``indexes``."""
        return self.merge(Intervals((i, i) for i in indexes))

    def total(self) -> int:
        """How many indexes the intervals hold."""
        return sum(last - first + 1 for first, last in self.items)

    def has(self, index: int) -> bool:
        """Whether ``index`` is in one of the intervals."""
        pos = bisect.bisect_left(self.items, index, key=lambda iv: iv[1])
        return pos < len(self.items) and self.items[pos][0] <= index

    def __bool__(self) -> bool:
        return bool(self.items)

    def __str__(self) -> str:
        parts: list[str] = []
        for first, last in self.items:
            if last == first:
                parts.append(str(first))
            elif last == first + 1:
                parts.append(f"{first},{last}")
            else:
                parts.append(f"{first}-{last}")
        return ",".join(parts)

    def __repr__(self) -> str:
        return f"Intervals({self!s})"


def indexes_of(pods: Iterable[Obj]) -> set[int]:
    """The completion indexes the pods carry."""
    return {ix for pod in pods if (ix := completion_index(pod)) is not None}


def first_pending_indexes(count: int, completions: int, taken: Intervals) -> list[int]:
    """Up to ``count`` indexes below ``completions`` not covered by ``taken``."""
    result: list[int] = []
    candidate = 0
    for first, last in taken.items:
        while candidate < completions and len(result) < count and candidate < first:
            result.append(candidate)
            candidate += 1
        candidate = max(candidate, last + 1)
    while candidate < completions and len(result) < count:
        result.append(candidate)
        candidate += 1
    return result


def generate_name_with_index(job_name: str, index: int) -> str:
    """``<job>-<index>-``, the job name cut so the generated name stays valid."""
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATE_NAME_LENGTH:
        prefix = prefix[:MAX_GENERATE_NAME_LENGTH - len(suffix)] + suffix
    return prefix


def add_completion_index_env(template: dict[str, Any]) -> None:
    """Give every (init) container ``JOB_COMPLETION_INDEX`` from the downward API (the
    kubelet resolves the pod label into the value)."""
    spec = template.setdefault("spec", {})
    field_path = f"metadata.labels['{COMPLETION_INDEX_ANNOTATION}']"
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or ():
            env: list[dict[str, Any]] = container.setdefault("env", [])
            if any(var.get("name") == COMPLETION_INDEX_ENV for var in env):
                continue
            env.append({"name": COMPLETION_INDEX_ENV,
                        "valueFrom": {"fieldRef": {"fieldPath": field_path}}})


def template_for_index(template: dict[str, Any], job_name: str, index: int) -> dict[str, Any]:
    """A copy of ``template`` for the pod of ``index``: annotation, label and hostname."""
    found = copy.deepcopy(template)
    template_meta = found.setdefault("metadata", {})
    template_meta.setdefault("annotations", {})[COMPLETION_INDEX_ANNOTATION] = str(index)
    template_meta.setdefault("labels", {})[COMPLETION_INDEX_ANNOTATION] = str(index)
    found.setdefault("spec", {})["hostname"] = f"{job_name}-{index}"
    return found
