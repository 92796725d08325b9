"""Image references, parsed and normalized the way Docker and containerd do.

``busybox`` means ``docker.io/library/busybox:latest``; ``ghcr.io/x/y@sha256:...`` names a
manifest by digest. The first path component is a registry host only when it looks like one
(contains ``.`` or ``:``, or is ``localhost``); otherwise the image lives on Docker Hub, and a
single-component Hub name gets the ``library/`` prefix. Pod specs, the image store's index and
``kubesmith images`` all speak the normalized form, so one image has one name everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
# Docker Hub's API endpoint differs from the name users write.
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME_MAX = 255


class InvalidReference(ValueError):
    """The string is not a valid image reference."""


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A normalized image reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository name without tag or digest, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def api_host(self) -> str:
        """The host (and port) that serves the distribution API for this repository."""
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    @property
    def manifest_reference(self) -> str:
        """What to put after ``/manifests/``: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> str:
        """``name@digest``, the form a repo digest takes."""
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse and normalize an image reference (``busybox`` → ``docker.io/library/busybox:latest``).

    Raises :class:`InvalidReference` with a message naming what is wrong.
    """
    if not text or text != text.strip():
        raise InvalidReference(f"invalid reference format: {text!r}")
    if _HEX64.fullmatch(text):
        # Docker refuses these: they would be ambiguous with image ids.
        raise InvalidReference(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    remainder, digest = _split_digest(text)
    remainder, tag = _split_tag(remainder)
    domain, path = _split_domain(remainder)
    if path.lower() != path:
        raise InvalidReference(
            f"invalid reference format: repository name ({path}) must be lowercase")
    if not _DOMAIN.fullmatch(domain):
        raise InvalidReference(f"invalid reference format: bad registry host {domain!r}")
    for component in path.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            raise InvalidReference(f"invalid reference format: {text!r}")
    if len(domain) + 1 + len(path) > _NAME_MAX:
        raise InvalidReference(f"repository name must not be more than {_NAME_MAX} characters")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(domain=domain, path=path, tag=tag, digest=digest)


def normalize(text: str) -> str:
    """The normalized string form of a reference."""
    return str(parse_reference(text))


def is_image_id(text: str) -> bool:
    """Whether ``text`` is an image id (``sha256:<64 hex>`` or the bare 64 hex digits)."""
    return bool(_DIGEST.fullmatch(text) or _HEX64.fullmatch(text))


def is_digest(text: str) -> bool:
    """Whether ``text`` is a sha256 content digest (``sha256:<64 lowercase hex>``)."""
    return bool(_DIGEST.fullmatch(text))


def _split_digest(text: str) -> tuple[str, str | None]:
    name, sep, digest = text.partition("@")
    if not sep:
        return text, None
    if not _DIGEST.fullmatch(digest):
        raise InvalidReference(f"invalid reference format: unsupported digest {digest!r}")
    return name, digest


def _split_tag(text: str) -> tuple[str, str | None]:
    # A ':' after the last '/' separates the tag; one before it is a registry port.
    colon = text.rfind(":")
    if colon <= text.rfind("/"):
        return text, None
    tag = text[colon + 1:]
    if not _TAG.fullmatch(tag):
        raise InvalidReference(f"invalid reference format: bad tag {tag!r}")
    return text[:colon], tag


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    looks_like_host = "." in first or ":" in first or first == "localhost"
    # Upper case in the first component means a host too: repository paths are lower case.
    if sep and (looks_like_host or first.lower() != first):
        domain, path = first, rest
    else:
        domain, path = DOCKER_HUB, name
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return domain, path
