"""The files of configMap and secret volumes (and projected sources): ``items`` map keys
to paths and modes, without ``items`` every key becomes a file, ``optional`` tolerates a
missing object or key. Error texts are the kubelet's."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from kubesmith.agent.volumes.atomic_writer import FileProjection
from kubesmith.agent.volumes.errors import SourceError
from kubesmith.api.types import Obj

#: Upstream defaults ``defaultMode`` of every projection to 0644 (secrets included).
DEFAULT_MODE = 0o644


def _b64(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SourceError(f"illegal base64 data: {exc}") from exc


def configmap_data(configmap: Obj) -> dict[str, bytes]:
    """Every key of a ConfigMap (``data`` and base64 ``binaryData``) as bytes."""
    data = {k: str(v).encode() for k, v in (configmap.get("data") or {}).items()}
    for key, value in (configmap.get("binaryData") or {}).items():
        data.setdefault(key, _b64(value))
    return data


def secret_data(secret: Obj) -> dict[str, bytes]:
    """Every key of a Secret (base64 ``data``) as bytes."""
    return {k: _b64(v) for k, v in (secret.get("data") or {}).items()}


def keyed_payload(data: dict[str, bytes], items: list[Obj] | None, default_mode: int,
                  *, optional: bool, missing_key: str) -> dict[str, FileProjection]:
    """Files for ``data`` as ``items`` select them; ``missing_key`` is the error prefix
    for a listed key that does not exist (``configmap references non-existent config
    key`` / ``references non-existent secret key``)."""
    if not items:
        return {key: FileProjection(value, default_mode) for key, value in data.items()}
    files: dict[str, FileProjection] = {}
    for item in items:
        key = str(item.get("key", ""))
        if key not in data:
            if optional:
                continue
            raise SourceError(f"{missing_key}: {key}")
        mode = item.get("mode")
        files[str(item.get("path") or key)] = FileProjection(
            data[key], default_mode if mode is None else int(mode))
    return files


#: The kubelet's error for a listed key missing from the object, by object kind.
_MISSING_KEY = {"configmap": "configmap references non-existent config key",
                "secret": "references non-existent secret key"}


def object_payload(kind: str, name: str, source: Obj, data: dict[str, bytes] | None,
                   default_mode: int) -> dict[str, FileProjection]:
    """Files of a ``configmap`` or ``secret`` volume or projection named ``name`` whose
    keys are ``data`` (None: the object does not exist, fine only when ``optional``)."""
    optional = bool(source.get("optional"))
    if data is None and not optional:
        raise SourceError(f'{kind} "{name}" not found')
    return keyed_payload(data or {}, source.get("items"), default_mode, optional=optional,
                         missing_key=_MISSING_KEY[kind])


def configmap_payload(source: Obj, configmap: Obj | None,
                      default_mode: int) -> dict[str, FileProjection]:
    """Files of a configMap volume or projection (``name``)."""
    return object_payload("configmap", str(source.get("name", "")), source,
                          None if configmap is None else configmap_data(configmap),
                          default_mode)


def secret_payload(source: Obj, name: str, secret: Obj | None,
                   default_mode: int) -> dict[str, FileProjection]:
    """Files of a secret volume (``secretName``) or projection (``name``)."""
    return object_payload("secret", name, source,
                          None if secret is None else secret_data(secret), default_mode)


def default_mode(source: Obj) -> int:
    """The source's ``defaultMode``, 0644 when unset."""
    mode = source.get("defaultMode")
    return DEFAULT_MODE if mode is None else int(mode)
