"""Registry credentials from imagePullSecrets, and which of them apply to an image.

Secrets of type ``kubernetes.io/dockerconfigjson`` (``{"auths": {SERVER: {...}}}``) and the
older ``kubernetes.io/dockercfg`` (``{SERVER: {...}}``) are read as the kubelet reads them:
a SERVER key may carry a scheme, a port, a path prefix (``registry.example/team``) and
``*`` wildcards per host label (``*.example.com``), and ``auth`` (base64 ``user:password``)
stands in for missing username/password. Secrets never appear in ``repr`` or messages.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from kubesmith.agent.images.reference import DOCKER_HUB, ImageReference
from kubesmith.api.types import Obj

log = logging.getLogger(__name__)

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CFG = "kubernetes.io/dockercfg"
_DOCKER_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "docker.io"}


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """Credentials for the registries matching ``server``."""

    server: str
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)

    def matches(self, ref: ImageReference) -> bool:
        """Whether these credentials apply to ``ref``'s repository."""
        host, port, prefix = _parse_server(self.server)
        ref_host, _, ref_port = ref.domain.partition(":")
        if port != ref_port:
            return False
        host_labels, ref_labels = host.split("."), ref_host.lower().split(".")
        if len(host_labels) != len(ref_labels) or not all(
                fnmatch.fnmatchcase(r, h) for h, r in zip(host_labels, ref_labels, strict=True)):
            return False
        return not prefix or ref.path == prefix or ref.path.startswith(prefix + "/")

    @property
    def specificity(self) -> tuple[bool, int]:
        """Sort key: exact hosts before wildcards, longer path prefixes first."""
        host, _, prefix = _parse_server(self.server)
        return ("*" in host, -len(prefix))


def _parse_server(server: str) -> tuple[str, str, str]:
    """(host pattern, port, path prefix) of a docker config key."""
    parts = urlsplit(server if "://" in server else f"https://{server}")
    host = (parts.hostname or "").lower()
    port = str(parts.port) if parts.port else ""
    prefix = parts.path.strip("/")
    if host in _DOCKER_HUB_ALIASES:
        # "https://index.docker.io/v1/" is Docker Hub's key; its path names the API version.
        host, prefix = DOCKER_HUB, "" if prefix in ("v1", "v2") else prefix
    return host, port, prefix


def credentials_from_pull_secrets(secrets: Sequence[Obj]) -> list[RegistryAuth]:
    """Every credential in the given Secret objects, in the order found."""
    found: list[RegistryAuth] = []
    for secret in secrets:
        kind = secret.get("type")
        key = {DOCKER_CONFIG_JSON: ".dockerconfigjson", DOCKER_CFG: ".dockercfg"}.get(str(kind))
        raw = (secret.get("data") or {}).get(key) if key else None
        name = (secret.get("metadata") or {}).get("name", "")
        if not raw:
            continue
        try:
            document = orjson.loads(base64.b64decode(raw))
            entries = document.get("auths", {}) if kind == DOCKER_CONFIG_JSON else document
            found.extend(_entry(server, value) for server, value in entries.items())
        except (ValueError, TypeError, AttributeError, binascii.Error):
            # The Secret's content stays out of the log: it is a credential.
            log.warning("ignoring image pull secret %r: malformed %s", name, key)
    return found


def _entry(server: str, value: Any) -> RegistryAuth:
    if not isinstance(value, dict):
        raise TypeError("registry entry is not an object")
    username, password = str(value.get("username") or ""), str(value.get("password") or "")
    if not username and value.get("auth"):
        username, _, password = base64.b64decode(value["auth"]).decode().partition(":")
    return RegistryAuth(server=server, username=username, password=password,
                        identity_token=str(value.get("identitytoken") or ""),
                        registry_token=str(value.get("registrytoken") or ""))


def matching_credentials(auths: Sequence[RegistryAuth],
                         ref: ImageReference) -> list[RegistryAuth]:
    """The credentials to try for ``ref``, most specific first."""
    return sorted((a for a in auths if a.matches(ref)), key=lambda a: a.specificity)
