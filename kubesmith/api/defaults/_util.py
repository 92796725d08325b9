"""Helpers for in-place defaulting of decoded JSON.

Go defaulters test a field against its zero value: ``""`` for strings, ``nil`` for
pointers, ``0`` for plain integers. JSON has no such distinction, so each helper names the
Go rule it implements. Nothing here creates an empty map or list where upstream's
``omitempty`` would drop it again — the stored object must look exactly like upstream's.
"""

from __future__ import annotations

import re
from typing import Any

from kubesmith.api.validation.quantity import QuantityError, parse_quantity

Obj = dict[str, Any]


def default_str(obj: Obj, key: str, value: str) -> None:
    """Set a string field whose Go zero value is ``""`` (missing, null or empty)."""
    if obj.get(key) in (None, ""):
        obj[key] = value


def default_ptr(obj: Obj, key: str, value: Any) -> None:
    """Set a pointer field (missing or null only; ``0``/``false`` are values)."""
    if obj.get(key) is None:
        obj[key] = value


def default_int0(obj: Obj, key: str, value: int) -> None:
    """Set a plain integer field whose Go zero value is ``0``."""
    if obj.get(key) in (None, 0) and not isinstance(obj.get(key), bool):
        obj[key] = value


def child(obj: Obj, key: str, *, create: bool = False) -> Obj | None:
    """``obj[key]`` when it is an object; with ``create`` an absent/null one becomes ``{}``.

    A value of the wrong JSON type is left alone (and ``None`` returned) so validation can
    report it instead of the defaulter silently replacing it.
    """
    value = obj.get(key)
    if isinstance(value, dict):
        return value
    if value is None and create:
        obj[key] = {}
        return obj[key]  # type: ignore[no-any-return]
    return None


def children(obj: Obj, key: str) -> list[Obj]:
    """The objects in the array ``obj[key]`` (other items skipped)."""
    value = obj.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def canonical_quantity(obj: Obj, key: str) -> None:
    """Re-spell a quantity field the way upstream serializes it (``0.5`` -> ``500m``)."""
    value = obj.get(key)
    if value is None:
        return
    try:
        obj[key] = str(parse_quantity(value))
    except QuantityError:
        return


def round_resource_list(obj: Obj | None, key: str) -> None:
    """Upstream ``SetDefaults_ResourceList``: round every value up to milli precision.

    Values are written back in upstream's canonical spelling; unparseable ones are left
    for validation to report.
    """
    if obj is None:
        return
    resources = obj.get(key)
    if not isinstance(resources, dict):
        return
    for name, raw in list(resources.items()):
        try:
            resources[name] = str(parse_quantity(raw).round_up(-3))
        except QuantityError:
            continue


# Docker reference grammar (github.com/distribution/reference), enough to find the tag.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = (rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[(?:[a-fA-F0-9:]+)\])"
           r"(?::[0-9]+)?")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_NAME_TOTAL_LENGTH_MAX = 255


def image_tag(image: str) -> str:
    """The tag upstream's ``parsers.ParseImageName`` finds in an image reference.

    ``latest`` when neither tag nor digest is given; ``""`` when the reference does not
    parse (upstream ignores the error, which then means "not latest").
    """
    if _IDENTIFIER.fullmatch(image):
        return ""
    match = _REFERENCE.fullmatch(image)
    if match is None:
        return ""
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    if len(name) > _NAME_TOTAL_LENGTH_MAX:
        return ""
    if digest and digest.startswith("sha256:") and len(digest) != len("sha256:") + 64:
        return ""
    if not tag and not digest:
        return "latest"
    return tag or ""


def pull_policy_for(image: str) -> str:
    """``Always`` for ``:latest`` (or untagged) images, else ``IfNotPresent``."""
    return "Always" if image_tag(image) == "latest" else "IfNotPresent"
