"""Encryption at rest: kube-apiserver's ``--encryption-provider-config``.

The configuration file is an ``EncryptionConfiguration`` (``apiserver.config.k8s.io/v1``)::

    apiVersion: apiserver.config.k8s.io/v1
    kind: EncryptionConfiguration
    resources:
      - resources: ["secrets"]
        providers:
          - aesgcm: {keys: [{name: key2, secret: <base64 of 16, 24 or 32 bytes>}]}
          - aescbc: {keys: [{name: key1, secret: <base64 of 16, 24 or 32 bytes>}]}
          - secretbox: {keys: [{name: key0, secret: <base64 of 32 bytes>}]}
          - identity: {}

Each stored value is written by the *first* key of the *first* provider and read by any
configured provider whose prefix it carries, as upstream:

* ``aescbc``: ``k8s:enc:aescbc:v1:<key>:`` + 16-byte IV + AES-CBC of the PKCS#7-padded value
  (not authenticated; the storage key is not used);
* ``aesgcm``: ``k8s:enc:aesgcm:v1:<key>:`` + 12-byte random nonce + AES-GCM ciphertext and tag,
  with the storage key as additional authenticated data (a value copied to another key does
  not decrypt);
* ``secretbox``: ``k8s:enc:secretbox:v1:<key>:`` + 24-byte nonce + XSalsa20-Poly1305 box
  (authenticated; the storage key is not used);
* ``identity``: the value as it is, no prefix. It reads unprefixed values only; a value that
  carries ``k8s:enc:`` is never handed back as plaintext.

A value without a prefix is readable only when ``identity`` is configured for the resource
("no matching prefix found" otherwise). A read by anything but the first provider and key is
*stale*: the value should be rewritten so it is encrypted with the current write key (see
:meth:`Transformer.read` and ``docs/adr/0005-encryption-at-rest.md``).

KMS providers are not supported.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
FLAG = "--encryption-provider-config"

ENCRYPTED_PREFIX = b"k8s:enc:"

AES_KEY_SIZES = (16, 24, 32)
SECRETBOX_KEY_SIZES = (32,)
_AES_BLOCK = 16
_GCM_NONCE = 12
_SECRETBOX_NONCE = 24
_SECRETBOX_OVERHEAD = 16

_KEYGEN_HINT = "generate one with: head -c 32 /dev/urandom | base64"

# Resources that are not stored through the REST API (upstream refuses them too).
_NON_REST_RESOURCES = frozenset({"apiserveripinfo", "serviceipallocations",
                                 "servicenodeportallocations"})


class TransformError(Exception):
    """A stored value could not be encrypted or decrypted.

    The message never contains key material or plaintext. Callers should surface it as an
    internal error (HTTP 500), as kube-apiserver does.
    """


class _Provider(Protocol):
    kind: str
    key_name: str
    prefix: bytes

    def seal(self, plaintext: bytes, context: bytes) -> bytes: ...

    def open(self, data: bytes, context: bytes) -> bytes: ...


def _prefix(kind: str, key_name: str) -> bytes:
    return ENCRYPTED_PREFIX + f"{kind}:v1:{key_name}:".encode()


class _AESCBC:
    kind = "aescbc"

    def __init__(self, key_name: str, key: bytes) -> None:
        self.key_name = key_name
        self.prefix = _prefix(self.kind, key_name)
        self._algorithm = algorithms.AES(key)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        iv = os.urandom(_AES_BLOCK)
        pad = _AES_BLOCK - len(plaintext) % _AES_BLOCK
        enc = Cipher(self._algorithm, modes.CBC(iv)).encryptor()
        return iv + enc.update(plaintext + bytes([pad]) * pad) + enc.finalize()

    def open(self, data: bytes, context: bytes) -> bytes:
        if len(data) < _AES_BLOCK:
            raise TransformError("the stored data was shorter than the required size")
        iv, body = data[:_AES_BLOCK], data[_AES_BLOCK:]
        if not body or len(body) % _AES_BLOCK:
            raise TransformError("the stored data is not a multiple of the block size")
        dec = Cipher(self._algorithm, modes.CBC(iv)).decryptor()
        plain = dec.update(body) + dec.finalize()
        pad = plain[-1]
        if pad == 0 or pad > _AES_BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise TransformError("invalid PKCS#7 padding (wrong key or corrupted data)")
        return plain[:-pad]


class _AESGCM:
    kind = "aesgcm"

    def __init__(self, key_name: str, key: bytes) -> None:
        self.key_name = key_name
        self.prefix = _prefix(self.kind, key_name)
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_GCM_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, data: bytes, context: bytes) -> bytes:
        if len(data) < _GCM_NONCE:
            raise TransformError("the stored data was shorter than the required size")
        try:
            return self._aead.decrypt(data[:_GCM_NONCE], data[_GCM_NONCE:], context)
        except InvalidTag:
            raise TransformError(
                "cipher: message authentication failed (wrong key, corrupted data, or data "
                "stored under a different key)") from None


class _SecretBox:
    kind = "secretbox"

    def __init__(self, key_name: str, key: bytes) -> None:
        try:
            from nacl.secret import SecretBox
        except ImportError:  # pragma: no cover - depends on the environment
            raise ValueError("the secretbox provider needs PyNaCl: pip install pynacl") from None
        self.key_name = key_name
        self.prefix = _prefix(self.kind, key_name)
        self._box = SecretBox(key)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        # nonce + box (Poly1305 tag first), the layout of Go's secretbox.Seal.
        return bytes(self._box.encrypt(plaintext, os.urandom(_SECRETBOX_NONCE)))

    def open(self, data: bytes, context: bytes) -> bytes:
        from nacl.exceptions import CryptoError

        if len(data) < _SECRETBOX_NONCE + _SECRETBOX_OVERHEAD:
            raise TransformError("the stored data was shorter than the required size")
        try:
            return bytes(self._box.decrypt(data))
        except CryptoError:
            raise TransformError(
                "secretbox: message authentication failed (wrong key or corrupted data)"
            ) from None


class _Identity:
    kind = "identity"
    key_name = ""
    prefix = b""

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        return plaintext

    def open(self, data: bytes, context: bytes) -> bytes:
        if data.startswith(ENCRYPTED_PREFIX):
            raise TransformError("identity transformer tried to read encrypted data")
        return data


class Transformer:
    """How one resource's values are written to and read from storage.

    ``context`` is the storage key (``kv.key.encode()``); aesgcm authenticates it.
    """

    def __init__(self, providers: Sequence[_Provider]) -> None:
        if not providers:
            raise ValueError("a transformer needs at least one provider")
        self._providers = tuple(providers)
        self._first = self._providers[0]

    @property
    def write_provider(self) -> str:
        """``kind`` or ``kind:keyname`` of what writes (``identity``: plaintext)."""
        first = self._first
        return f"{first.kind}:{first.key_name}" if first.key_name else first.kind

    @property
    def encrypts(self) -> bool:
        """Whether writes are encrypted (False when identity comes first)."""
        return bool(self._first.prefix)

    def to_storage(self, plaintext: bytes, context: bytes) -> bytes:
        """The stored form of ``plaintext``: sealed with the first provider's first key."""
        return self._first.prefix + self._first.seal(plaintext, context)

    def read(self, data: bytes, context: bytes) -> tuple[bytes, bool]:
        """``(plaintext, stale)``: the value decrypted by the provider whose prefix it
        carries; ``stale`` when that is not the write provider, so the value should be
        rewritten (even by an update that changes nothing) to move it to the current key.

        Raises :class:`TransformError` when no configured provider can read it.
        """
        problems: list[str] = []
        for i, provider in enumerate(self._providers):
            if not data.startswith(provider.prefix):
                continue
            try:
                plain = provider.open(data[len(provider.prefix):], context)
            except TransformError as exc:
                if provider.prefix:
                    problems.append(f"{provider.kind} key {provider.key_name!r}: {exc}")
                # identity refusing encrypted data must not hide a later provider.
                continue
            return plain, i != 0
        if problems:
            raise TransformError("failed to decrypt data: " + "; ".join(problems))
        raise TransformError(self._no_match(data))

    def from_storage(self, data: bytes, context: bytes) -> bytes:
        """The plaintext of a stored value (see :meth:`read`)."""
        return self.read(data, context)[0]

    def is_stale(self, data: bytes) -> bool:
        """Whether a stored value was not written by the current write provider/key, by
        its prefix alone (no decryption)."""
        if self._first.prefix:
            return not data.startswith(self._first.prefix)
        return data.startswith(ENCRYPTED_PREFIX)

    def _no_match(self, data: bytes) -> str:
        if data.startswith(ENCRYPTED_PREFIX):
            parts = data[len(ENCRYPTED_PREFIX):].split(b":", 3)
            if len(parts) >= 3:
                kind = parts[0].decode("ascii", "replace")
                key = parts[2].decode("utf-8", "replace")
                return (f"no matching prefix found: the value was written by {kind} key "
                        f"{key!r}, which is not configured for this resource; add that key "
                        f"back (after the current write key) in {FLAG} to read it")
            return "no matching prefix found: the value has a malformed k8s:enc: prefix"
        return ("no matching prefix found: the value is not encrypted and the configuration "
                "for this resource has no identity provider; add '- identity: {}' as the "
                f"last provider in {FLAG} to read unencrypted data")


def _parse_group_resource(text: str) -> tuple[str, str]:
    """``secrets`` → ("", "secrets"); ``deployments.apps`` → ("apps", "deployments");
    ``*.`` → ("", "*"); ``*.*`` → ("*", "*") (upstream's ParseGroupResource)."""
    resource, dot, group = text.partition(".")
    return (group, resource) if dot else ("", text)


def _gr_text(gr: tuple[str, str]) -> str:
    return f"{gr[1]}.{gr[0]}" if gr[0] else (f"{gr[1]}." if gr[1] == "*" else gr[1])


class EncryptionConfig:
    """A parsed, validated ``EncryptionConfiguration``."""

    def __init__(self, transformers: Mapping[tuple[str, str], Transformer]) -> None:
        # (group, resource) → transformer; resource or both may be "*".
        self._transformers = dict(transformers)

    @property
    def resources(self) -> list[str]:
        """The configured resources as the file names them (``secrets``, ``*.apps``...)."""
        return [_gr_text(gr) for gr in self._transformers]

    def transformer_for(self, group: str, resource: str) -> Transformer | None:
        """The transformer for the storage group and resource (``""`` or ``"core"`` for the
        core group), or None when the configuration does not name the resource. An exact
        entry wins over ``*.<group>``, which wins over ``*.*``, as upstream."""
        if group == "core":
            group = ""
        for gr in ((group, resource), (group, "*"), ("*", "*")):
            t = self._transformers.get(gr)
            if t is not None:
                return t
        return None

    # ---- loading -----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EncryptionConfig:
        """Read and validate the file named by ``--encryption-provider-config``."""
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise ValueError(f"error reading encryption provider configuration file "
                             f"{str(p)!r} ({FLAG}): {exc.strerror or exc}") from None
        if not data.strip():
            raise ValueError(f"encryption provider configuration file {str(p)!r} is empty")
        return cls.parse(data, source=str(p))

    @classmethod
    def parse(cls, text: str | bytes, source: str = "<config>") -> EncryptionConfig:
        """Parse YAML or JSON text."""
        try:
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            doc = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
        except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
            raise ValueError(f"error decoding encryption provider configuration file "
                             f"{source!r}: not valid YAML or JSON: {exc}") from None
        return cls.from_dict(doc, source=source)

    @classmethod
    def from_dict(cls, doc: Any, source: str = "<config>") -> EncryptionConfig:
        """Validate a decoded document; every problem is reported in one ValueError."""
        problems: list[str] = []
        transformers = _build(doc, problems)
        if problems:
            raise ValueError(f"invalid encryption provider configuration {source!r}:\n  - "
                             + "\n  - ".join(problems))
        return cls(transformers)


def load_encryption_config(path: str | os.PathLike[str]) -> EncryptionConfig:
    """:meth:`EncryptionConfig.load`."""
    return EncryptionConfig.load(path)


# ---- validation and construction --------------------------------------------------------
_PROVIDER_KINDS = ("aesgcm", "aescbc", "secretbox", "identity", "kms")


def _build(doc: Any, problems: list[str]) -> dict[tuple[str, str], Transformer]:
    if not isinstance(doc, dict):
        problems.append("the document must be a mapping with apiVersion, kind and resources")
        return {}
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if kind == "EncryptionConfig" or api_version == "v1":
        problems.append("'kind: EncryptionConfig' / 'apiVersion: v1' is the removed legacy "
                        f"format; use 'apiVersion: {API_VERSION}' and 'kind: {KIND}'")
    else:
        if api_version != API_VERSION:
            problems.append(f"apiVersion: must be {API_VERSION!r}, got {api_version!r}")
        if kind != KIND:
            problems.append(f"kind: must be {KIND!r}, got {kind!r}")
    entries = doc.get("resources")
    if not isinstance(entries, list) or not entries:
        problems.append("resources: at least one resources entry is required (a list of "
                        "{resources: [...], providers: [...]})")
        return {}
    lists: dict[tuple[str, str], list[_Provider]] = {}
    for i, entry in enumerate(entries):
        path = f"resources[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{path}: must be a mapping with 'resources' and 'providers'")
            continue
        grs = _resources(entry.get("resources"), f"{path}.resources", problems)
        providers = _providers(entry.get("providers"), f"{path}.providers", problems)
        for gr in grs:
            for masking in ((gr[0], "*"), ("*", "*")):
                if masking in lists:
                    problems.append(f"{path}.resources: resource {_gr_text(gr)!r} is masked "
                                    f"by earlier rule {_gr_text(masking)!r}; move it before "
                                    "that rule or drop it")
                    break
            else:
                # Named again in a later entry: its providers are added for reading.
                lists.setdefault(gr, []).extend(providers)
    return {gr: Transformer(ps) for gr, ps in lists.items() if ps}


def _resources(value: Any, path: str, problems: list[str]) -> list[tuple[str, str]]:
    if not isinstance(value, list) or not value:
        problems.append(f"{path}: at least one resource is required (e.g. ['secrets'])")
        return []
    grs: list[tuple[str, str]] = []
    for j, res in enumerate(value):
        p = f"{path}[{j}]"
        if not isinstance(res, str) or not res:
            problems.append(f"{p}: must be a non-empty string such as 'secrets'")
            continue
        gr = _parse_group_resource(res)
        if res != res.lower():
            problems.append(f"{p}: resource name {res!r} should not contain capital letters "
                            "(use the plural resource name, e.g. 'secrets')")
        elif res == "*":
            problems.append(f"{p}: use '*.' to encrypt all the resources from the core API "
                            "group or '*.*' to encrypt all resources")
        elif res in _NON_REST_RESOURCES:
            problems.append(f"{p}: {res!r} has no REST API and cannot be encrypted")
        elif gr[0] == "events.k8s.io":
            problems.append(f"{p}: '*.events.k8s.io' objects are stored using the 'events' API "
                            "group; use 'events' instead")
        elif gr[0] == "extensions":
            problems.append(f"{p}: the 'extensions' group has been removed and cannot be used "
                            "for encryption")
        elif gr[0] == "*" and gr[1] != "*":
            problems.append(f"{p}: {res!r}: encrypting the same resource across groups is not "
                            "supported; name the group (e.g. 'deployments.apps')")
        else:
            grs.append(gr)
    if len(set(grs)) != len(grs):
        problems.append(f"{path}: the same resource cannot be specified multiple times")
    unique = list(dict.fromkeys(grs))
    for gr in unique:
        others = [o for o in unique if o != gr]
        if (gr == ("*", "*") and others) or \
                (gr[1] == "*" and any(o[0] == gr[0] for o in others)):
            problems.append(f"{path}: using overlapping resources such as 'secrets' and '*.' in "
                            "the same resource list is not allowed as they will be masked")
            break
    return unique


def _providers(value: Any, path: str, problems: list[str]) -> list[_Provider]:
    if not isinstance(value, list) or not value:
        problems.append(f"{path}: at least one provider is required (e.g. "
                        "[{aescbc: {keys: [...]}}, {identity: {}}])")
        return []
    out: list[_Provider] = []
    for j, entry in enumerate(value):
        p = f"{path}[{j}]"
        if not isinstance(entry, dict) or not entry:
            problems.append(f"{p}: must be a mapping naming one provider: "
                            "aescbc, aesgcm, secretbox or identity")
            continue
        unknown = sorted(str(k) for k in entry if k not in _PROVIDER_KINDS)
        if unknown:
            problems.append(f"{p}: unknown provider {', '.join(map(repr, unknown))}; expected "
                            "one of aescbc, aesgcm, secretbox, identity")
            continue
        if len(entry) > 1:
            problems.append(f"{p}: more than one provider specified in a single element, "
                            "should split into different list elements")
            continue
        kind, conf = next(iter(entry.items()))
        if kind == "kms":
            problems.append(f"{p}: kms providers are not supported by kubesmith; use aesgcm, "
                            "aescbc or secretbox")
            continue
        if not isinstance(conf, dict):
            hint = "write 'identity: {}'" if kind == "identity" else \
                f"write '{kind}: {{keys: [{{name: key1, secret: <base64>}}]}}'"
            problems.append(f"{p}.{kind}: must be a mapping; {hint}")
            continue
        if kind == "identity":
            out.append(_Identity())
            continue
        sizes = SECRETBOX_KEY_SIZES if kind == "secretbox" else AES_KEY_SIZES
        keys = conf.get("keys")
        if not isinstance(keys, list) or not keys:
            problems.append(f"{p}.{kind}.keys: at least one key is required "
                            "({name: key1, secret: <base64>})")
            continue
        for k, key in enumerate(keys):
            made = _key(kind, key, sizes, f"{p}.{kind}.keys[{k}]", problems)
            if made is not None:
                out.append(made)
    return out


def _key(kind: str, key: Any, sizes: tuple[int, ...], path: str,
         problems: list[str]) -> _Provider | None:
    if not isinstance(key, dict):
        problems.append(f"{path}: must be a mapping with 'name' and 'secret'")
        return None
    name, secret = key.get("name"), key.get("secret")
    ok = True
    if not isinstance(name, str) or not name:
        problems.append(f"{path}.name: name is a mandatory field for a key")
        ok = False
    if not isinstance(secret, str) or not secret:
        problems.append(f"{path}.secret: secret is a mandatory field for a key ({_KEYGEN_HINT})")
        return None
    try:
        raw = base64.b64decode("".join(secret.split()), validate=True)
    except (binascii.Error, ValueError):
        problems.append(f"{path}.secret: secrets must be base64 encoded ({_KEYGEN_HINT})")
        return None
    if len(raw) not in sizes:
        expected = ", ".join(map(str, sizes))
        problems.append(f"{path}.secret: secret is {len(raw)} bytes after base64 decoding, "
                        f"expected one of [{expected}] for {kind} ({_KEYGEN_HINT})")
        return None
    if not ok:
        return None
    assert isinstance(name, str)
    if kind == "aescbc":
        return _AESCBC(name, raw)
    if kind == "aesgcm":
        return _AESGCM(name, raw)
    return _SecretBox(name, raw)
