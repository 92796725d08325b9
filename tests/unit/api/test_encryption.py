"""Encryption at rest: EncryptionConfiguration parsing, upstream's on-disk layout for each
provider, key rotation, identity handling and tamper detection."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.secret import SecretBox

from kubesmith.api.encryption import (
    EncryptionConfig,
    Transformer,
    TransformError,
    load_encryption_config,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
KEY_16 = bytes(range(16))
KEY_24 = bytes(range(24))
CTX = b"/registry/core/secrets/default/db"
PLAIN = json.dumps({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "db", "namespace": "default"},
                    "data": {"password": base64.b64encode(b"hunter2-hunter2").decode()}}
                   ).encode()


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def cfg(*providers: dict[str, Any], resources: list[str] | None = None) -> EncryptionConfig:
    return EncryptionConfig.from_dict({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": resources or ["secrets"], "providers": list(providers)}],
    })


def prov(kind: str, *keys: tuple[str, bytes]) -> dict[str, Any]:
    return {kind: {"keys": [{"name": n, "secret": b64(k)} for n, k in keys]}}


IDENTITY: dict[str, Any] = {"identity": {}}


def secrets_transformer(config: EncryptionConfig) -> Transformer:
    t = config.transformer_for("", "secrets")
    assert t is not None
    return t


# ---- round trips and on-disk layout ------------------------------------------------------
@pytest.mark.parametrize("kind", ["aescbc", "aesgcm", "secretbox"])
def test_round_trip_and_prefix(kind: str) -> None:
    t = secrets_transformer(cfg(prov(kind, ("key1", KEY_A))))
    stored = t.to_storage(PLAIN, CTX)
    assert stored.startswith(f"k8s:enc:{kind}:v1:key1:".encode())
    assert PLAIN not in stored
    assert b"hunter2" not in stored
    assert b"Secret" not in stored
    assert t.from_storage(stored, CTX) == PLAIN
    assert t.read(stored, CTX) == (PLAIN, False)
    assert not t.is_stale(stored)
    # Random IV / nonce: the same value never encrypts the same way twice.
    assert t.to_storage(PLAIN, CTX) != stored


@pytest.mark.parametrize("plain", [b"", b"x", b"0123456789abcdef", b"y" * 33])
@pytest.mark.parametrize("kind", ["aescbc", "aesgcm", "secretbox"])
def test_round_trip_lengths(kind: str, plain: bytes) -> None:
    t = secrets_transformer(cfg(prov(kind, ("k", KEY_A))))
    assert t.from_storage(t.to_storage(plain, CTX), CTX) == plain


@pytest.mark.parametrize("key", [KEY_16, KEY_24, KEY_A])
@pytest.mark.parametrize("kind", ["aescbc", "aesgcm"])
def test_aes_key_sizes(kind: str, key: bytes) -> None:
    t = secrets_transformer(cfg(prov(kind, ("k", key))))
    assert t.from_storage(t.to_storage(PLAIN, CTX), CTX) == PLAIN


def test_aescbc_layout_is_iv_then_pkcs7_cbc() -> None:
    t = secrets_transformer(cfg(prov("aescbc", ("key1", KEY_A))))
    body = t.to_storage(PLAIN, CTX)[len(b"k8s:enc:aescbc:v1:key1:"):]
    iv, ct = body[:16], body[16:]
    assert len(ct) % 16 == 0
    dec = Cipher(algorithms.AES(KEY_A), modes.CBC(iv)).decryptor()
    padded = dec.update(ct) + dec.finalize()
    pad = padded[-1]
    assert 1 <= pad <= 16
    assert padded[-pad:] == bytes([pad]) * pad
    assert padded[:-pad] == PLAIN


def test_aesgcm_layout_is_nonce_then_sealed_with_storage_key_as_aad() -> None:
    t = secrets_transformer(cfg(prov("aesgcm", ("key1", KEY_A))))
    body = t.to_storage(PLAIN, CTX)[len(b"k8s:enc:aesgcm:v1:key1:"):]
    assert len(body) == 12 + len(PLAIN) + 16
    assert AESGCM(KEY_A).decrypt(body[:12], body[12:], CTX) == PLAIN


def test_secretbox_layout_is_nonce_then_box() -> None:
    t = secrets_transformer(cfg(prov("secretbox", ("key1", KEY_A))))
    body = t.to_storage(PLAIN, CTX)[len(b"k8s:enc:secretbox:v1:key1:"):]
    assert len(body) == 24 + 16 + len(PLAIN)
    assert SecretBox(KEY_A).decrypt(body[24:], body[:24]) == PLAIN


def test_reads_values_sealed_independently() -> None:
    """Values laid out as upstream writes them (built here without the module) decrypt."""
    t = secrets_transformer(cfg(prov("aesgcm", ("g", KEY_A)), prov("secretbox", ("s", KEY_B)),
                                prov("aescbc", ("c", KEY_16))))
    nonce = b"\x01" * 12
    gcm = b"k8s:enc:aesgcm:v1:g:" + nonce + AESGCM(KEY_A).encrypt(nonce, PLAIN, CTX)
    assert t.read(gcm, CTX) == (PLAIN, False)
    box = b"k8s:enc:secretbox:v1:s:" + bytes(SecretBox(KEY_B).encrypt(PLAIN, b"\x02" * 24))
    assert t.read(box, CTX) == (PLAIN, True)
    iv = b"\x03" * 16
    pad = 16 - len(PLAIN) % 16
    enc = Cipher(algorithms.AES(KEY_16), modes.CBC(iv)).encryptor()
    cbc = b"k8s:enc:aescbc:v1:c:" + iv + enc.update(PLAIN + bytes([pad]) * pad) + enc.finalize()
    assert t.read(cbc, CTX) == (PLAIN, True)


# ---- context (storage key) ---------------------------------------------------------------
def test_aesgcm_authenticates_the_storage_key() -> None:
    t = secrets_transformer(cfg(prov("aesgcm", ("key1", KEY_A))))
    stored = t.to_storage(PLAIN, CTX)
    with pytest.raises(TransformError, match="authentication failed"):
        t.from_storage(stored, b"/registry/core/secrets/default/other")


@pytest.mark.parametrize("kind", ["aescbc", "secretbox"])
def test_cbc_and_secretbox_ignore_the_storage_key(kind: str) -> None:
    t = secrets_transformer(cfg(prov(kind, ("key1", KEY_A))))
    stored = t.to_storage(PLAIN, CTX)
    assert t.from_storage(stored, b"/registry/core/secrets/default/other") == PLAIN


# ---- rotation ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["aescbc", "aesgcm", "secretbox"])
def test_rotation_reads_old_key_after_new_first_key(kind: str) -> None:
    old = secrets_transformer(cfg(prov(kind, ("key1", KEY_A))))
    stored_old = old.to_storage(PLAIN, CTX)
    # Step 1: the new key is added first; the old one stays for reading.
    rotated = secrets_transformer(cfg(prov(kind, ("key2", KEY_B), ("key1", KEY_A))))
    assert rotated.read(stored_old, CTX) == (PLAIN, True)
    assert rotated.is_stale(stored_old)
    stored_new = rotated.to_storage(PLAIN, CTX)
    assert stored_new.startswith(f"k8s:enc:{kind}:v1:key2:".encode())
    assert rotated.read(stored_new, CTX) == (PLAIN, False)
    assert not rotated.is_stale(stored_new)
    # Step 3: the old key removed; rewritten data still reads, old data names its key.
    final = secrets_transformer(cfg(prov(kind, ("key2", KEY_B))))
    assert final.from_storage(stored_new, CTX) == PLAIN
    with pytest.raises(TransformError, match=r"no matching prefix found.*'key1'"):
        final.from_storage(stored_old, CTX)


def test_rotation_across_providers() -> None:
    cbc = secrets_transformer(cfg(prov("aescbc", ("key1", KEY_A))))
    stored = cbc.to_storage(PLAIN, CTX)
    t = secrets_transformer(cfg(prov("secretbox", ("key2", KEY_B)),
                                prov("aescbc", ("key1", KEY_A))))
    assert t.read(stored, CTX) == (PLAIN, True)
    assert t.to_storage(PLAIN, CTX).startswith(b"k8s:enc:secretbox:v1:key2:")


def test_same_key_name_different_secret_tries_next() -> None:
    """Two keys with one name share a prefix: a failure with the first is not final."""
    old = secrets_transformer(cfg(prov("aesgcm", ("k", KEY_A))))
    stored = old.to_storage(PLAIN, CTX)
    t = secrets_transformer(cfg(prov("aesgcm", ("k", KEY_B), ("k", KEY_A))))
    assert t.read(stored, CTX) == (PLAIN, True)


def test_wrong_key_under_the_right_name_fails() -> None:
    stored = secrets_transformer(cfg(prov("aesgcm", ("k", KEY_A)))).to_storage(PLAIN, CTX)
    t = secrets_transformer(cfg(prov("aesgcm", ("k", KEY_B))))
    with pytest.raises(TransformError, match="failed to decrypt data: aesgcm key 'k'"):
        t.from_storage(stored, CTX)


def test_unknown_key_name_is_no_matching_prefix() -> None:
    stored = secrets_transformer(cfg(prov("aescbc", ("other", KEY_A)))).to_storage(PLAIN, CTX)
    t = secrets_transformer(cfg(prov("aescbc", ("key1", KEY_A)), IDENTITY))
    with pytest.raises(TransformError, match=r"aescbc key 'other'.*not configured"):
        t.from_storage(stored, CTX)


def test_key_name_prefix_of_another_is_not_confused() -> None:
    stored = secrets_transformer(cfg(prov("aesgcm", ("key10", KEY_A)))).to_storage(PLAIN, CTX)
    t = secrets_transformer(cfg(prov("aesgcm", ("key1", KEY_B), ("key10", KEY_A))))
    assert t.read(stored, CTX) == (PLAIN, True)


# ---- identity ----------------------------------------------------------------------------
def test_plain_value_readable_only_with_identity() -> None:
    with_identity = secrets_transformer(cfg(prov("aescbc", ("key1", KEY_A)), IDENTITY))
    assert with_identity.read(PLAIN, CTX) == (PLAIN, True)
    assert with_identity.is_stale(PLAIN)
    without = secrets_transformer(cfg(prov("aescbc", ("key1", KEY_A))))
    with pytest.raises(TransformError, match=r"not encrypted.*identity"):
        without.from_storage(PLAIN, CTX)


def test_identity_first_writes_plaintext_and_reads_both() -> None:
    enc = secrets_transformer(cfg(prov("aesgcm", ("key1", KEY_A))))
    stored_enc = enc.to_storage(PLAIN, CTX)
    t = secrets_transformer(cfg(IDENTITY, prov("aesgcm", ("key1", KEY_A))))
    assert not t.encrypts
    assert t.write_provider == "identity"
    assert t.to_storage(PLAIN, CTX) == PLAIN
    assert t.read(PLAIN, CTX) == (PLAIN, False)
    assert not t.is_stale(PLAIN)
    # Encrypted data is not handed back as-is by identity: the aesgcm key reads it.
    assert t.read(stored_enc, CTX) == (PLAIN, True)
    assert t.is_stale(stored_enc)


def test_identity_only_refuses_encrypted_data() -> None:
    stored = secrets_transformer(cfg(prov("secretbox", ("key1", KEY_A)))).to_storage(PLAIN, CTX)
    t = secrets_transformer(cfg(IDENTITY))
    assert t.to_storage(PLAIN, CTX) == PLAIN
    with pytest.raises(TransformError, match="secretbox key 'key1'"):
        t.from_storage(stored, CTX)


# ---- tampering ---------------------------------------------------------------------------
def _flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    b = bytearray(data)
    b[index] ^= mask
    return bytes(b)


@pytest.mark.parametrize("kind", ["aesgcm", "secretbox"])
@pytest.mark.parametrize("where", ["nonce", "middle", "last"])
def test_tampering_detected_by_aead(kind: str, where: str) -> None:
    t = secrets_transformer(cfg(prov(kind, ("key1", KEY_A))))
    stored = t.to_storage(PLAIN, CTX)
    start = len(f"k8s:enc:{kind}:v1:key1:")
    index = {"nonce": start + 1, "middle": (start + len(stored)) // 2, "last": -1}[where]
    with pytest.raises(TransformError, match="authentication failed"):
        t.from_storage(_flip(stored, index), CTX)


@pytest.mark.parametrize("kind", ["aescbc", "aesgcm", "secretbox"])
def test_truncated_value_rejected(kind: str) -> None:
    t = secrets_transformer(cfg(prov(kind, ("key1", KEY_A))))
    prefix = f"k8s:enc:{kind}:v1:key1:".encode()
    with pytest.raises(TransformError, match="shorter than the required size"):
        t.from_storage(prefix + b"\x00" * 5, CTX)


def test_cbc_bad_padding_rejected() -> None:
    t = secrets_transformer(cfg(prov("aescbc", ("key1", KEY_A))))
    stored = t.to_storage(PLAIN, CTX)
    pad = 16 - len(PLAIN) % 16
    # CBC: flipping a bit in the previous block flips the same bit of the padding byte.
    tampered = _flip(stored, len(stored) - 17, pad ^ 0x20)
    with pytest.raises(TransformError, match="padding"):
        t.from_storage(tampered, CTX)


def test_cbc_not_block_multiple_rejected() -> None:
    t = secrets_transformer(cfg(prov("aescbc", ("key1", KEY_A))))
    with pytest.raises(TransformError, match="multiple of the block size"):
        t.from_storage(t.to_storage(PLAIN, CTX)[:-1], CTX)


def test_cbc_tampering_is_an_error_or_garbage() -> None:
    """CBC is not authenticated (as upstream): a flipped byte either breaks the padding or
    decrypts to something that is not the stored object (and fails JSON decoding)."""
    t = secrets_transformer(cfg(prov("aescbc", ("key1", KEY_A))))
    stored = t.to_storage(PLAIN, CTX)
    start = len(b"k8s:enc:aescbc:v1:key1:") + 16
    for index in range(start, len(stored), 7):
        try:
            out = t.from_storage(_flip(stored, index), CTX)
        except TransformError:
            continue
        assert out != PLAIN
        with pytest.raises(ValueError, match=r"."):
            json.loads(out)


def test_cbc_wrong_key_fails() -> None:
    stored = secrets_transformer(cfg(prov("aescbc", ("k", KEY_A)))).to_storage(PLAIN, CTX)
    t = secrets_transformer(cfg(prov("aescbc", ("k", KEY_B))))
    # Garbage padding is almost always detected; if not, the plaintext is garbage.
    try:
        out = t.from_storage(stored, CTX)
    except TransformError:
        return
    assert out != PLAIN


def test_errors_never_contain_plaintext_or_keys() -> None:
    stored = secrets_transformer(cfg(prov("aesgcm", ("k", KEY_A)))).to_storage(PLAIN, CTX)
    t = secrets_transformer(cfg(prov("aesgcm", ("k", KEY_B))))
    with pytest.raises(TransformError) as info:
        t.from_storage(stored, CTX)
    assert "hunter2" not in str(info.value)
    assert b64(KEY_B) not in str(info.value)


# ---- resource selection ------------------------------------------------------------------
def _doc(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": list(entries)}


def test_transformer_for_resources() -> None:
    c = EncryptionConfig.from_dict(_doc(
        {"resources": ["secrets", "deployments.apps"], "providers": [prov("aesgcm", ("a", KEY_A))]},
        {"resources": ["*.batch"], "providers": [prov("secretbox", ("b", KEY_B))]},
    ))
    assert c.transformer_for("", "secrets") is c.transformer_for("core", "secrets")
    assert c.transformer_for("apps", "deployments") is not None
    assert c.transformer_for("apps", "statefulsets") is None
    assert c.transformer_for("", "configmaps") is None
    jobs = c.transformer_for("batch", "jobs")
    assert jobs is not None
    assert jobs.write_provider == "secretbox:b"
    assert c.resources == ["secrets", "deployments.apps", "*.batch"]


def test_star_star_covers_everything_and_exact_wins() -> None:
    c = EncryptionConfig.from_dict(_doc(
        {"resources": ["secrets"], "providers": [prov("aesgcm", ("a", KEY_A))]},
        {"resources": ["*."], "providers": [prov("aescbc", ("c", KEY_A))]},
        {"resources": ["*.*"], "providers": [prov("secretbox", ("s", KEY_A))]},
    ))

    def writer(group: str, resource: str) -> str:
        t = c.transformer_for(group, resource)
        assert t is not None
        return t.write_provider

    assert writer("", "secrets") == "aesgcm:a"
    assert writer("", "configmaps") == "aescbc:c"
    assert writer("example.com", "widgets") == "secretbox:s"


def test_resource_in_two_entries_reads_with_both() -> None:
    c = EncryptionConfig.from_dict(_doc(
        {"resources": ["secrets"], "providers": [prov("aesgcm", ("a", KEY_A))]},
        {"resources": ["secrets"], "providers": [prov("aescbc", ("c", KEY_B))]},
    ))
    t = secrets_transformer(c)
    assert t.write_provider == "aesgcm:a"
    old = secrets_transformer(cfg(prov("aescbc", ("c", KEY_B)))).to_storage(PLAIN, CTX)
    assert t.read(old, CTX) == (PLAIN, True)


# ---- parsing -----------------------------------------------------------------------------
YAML = f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: {b64(KEY_A)}
      - identity: {{}}
"""


def test_load_yaml_and_json_files(tmp_path: Path) -> None:
    y = tmp_path / "enc.yaml"
    y.write_text(YAML)
    t = load_encryption_config(y).transformer_for("", "secrets")
    assert t is not None
    assert t.write_provider == "aescbc:key1"
    j = tmp_path / "enc.json"
    j.write_text(json.dumps(_doc({"resources": ["secrets"],
                                  "providers": [prov("secretbox", ("s", KEY_A))]})))
    assert EncryptionConfig.load(j).transformer_for("", "secrets") is not None


def test_load_missing_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"error reading.*--encryption-provider-config"):
        load_encryption_config(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="is empty"):
        load_encryption_config(empty)


def test_parse_invalid_yaml() -> None:
    with pytest.raises(ValueError, match="not valid YAML or JSON"):
        EncryptionConfig.parse("resources: [unclosed")


def _err(doc: Any) -> str:
    with pytest.raises(ValueError, match="invalid encryption provider configuration") as info:
        EncryptionConfig.from_dict(doc)
    return str(info.value)


def _one(provider: Any, resources: list[Any] | None = None) -> str:
    return _err(_doc({"resources": resources or ["secrets"], "providers": [provider]}))


@pytest.mark.parametrize(("doc", "message"), [
    ([], "must be a mapping"),
    ({"apiVersion": "v1", "kind": "EncryptionConfig", "resources": []}, "legacy format"),
    ({"apiVersion": "apiserver.config.k8s.io/v1beta1", "kind": "EncryptionConfiguration",
      "resources": [{"resources": ["secrets"], "providers": [{"identity": {}}]}]},
     "apiVersion: must be 'apiserver.config.k8s.io/v1'"),
    ({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "Other",
      "resources": [{"resources": ["secrets"], "providers": [{"identity": {}}]}]},
     "kind: must be 'EncryptionConfiguration'"),
    (_doc(), "at least one resources entry"),
    (_doc({"resources": [], "providers": [{"identity": {}}]}),
     r"resources\[0\].resources: at least one resource"),
    (_doc({"resources": ["secrets"], "providers": []}),
     r"resources\[0\].providers: at least one provider"),
])
def test_document_errors(doc: Any, message: str) -> None:
    assert re.search(message, _err(doc))


@pytest.mark.parametrize(("provider", "message"), [
    ({"aesctr": {"keys": []}}, "unknown provider 'aesctr'"),
    ({"kms": {"name": "x"}}, "kms providers are not supported"),
    ({"aescbc": {"keys": [{"name": "k", "secret": b64(KEY_A)}]}, "identity": {}},
     "more than one provider specified in a single element"),
    ({}, "must be a mapping naming one provider"),
    ({"identity": None}, "write 'identity: {}'"),
    ({"aescbc": {}}, r"aescbc.keys: at least one key is required"),
    ({"aescbc": {"keys": []}}, r"aescbc.keys: at least one key is required"),
    ({"aesgcm": {"keys": [{"secret": b64(KEY_A)}]}}, r"keys\[0\].name: name is a mandatory"),
    ({"aesgcm": {"keys": [{"name": "k"}]}}, r"keys\[0\].secret: secret is a mandatory"),
    ({"aesgcm": {"keys": [{"name": "k", "secret": "not base64!"}]}},
     "secrets must be base64 encoded"),
    ({"aescbc": {"keys": [{"name": "k", "secret": b64(b"short")}]}},
     r"secret is 5 bytes after base64 decoding, expected one of \[16, 24, 32\] for aescbc"),
    ({"secretbox": {"keys": [{"name": "k", "secret": b64(KEY_16)}]}},
     r"secret is 16 bytes.*expected one of \[32\] for secretbox"),
    ({"aesgcm": {"keys": [{"name": "k", "secret": b64(bytes(31))}]}},
     r"31 bytes.*head -c 32 /dev/urandom \| base64"),
])
def test_provider_errors(provider: Any, message: str) -> None:
    err = _one(provider)
    assert re.search(message, err), err


def test_secret_never_echoed_in_errors() -> None:
    secret = b64(b"sixteen-byte-key-plus")
    err = _one({"secretbox": {"keys": [{"name": "k", "secret": secret}]}})
    assert secret not in err


@pytest.mark.parametrize(("resources", "message"), [
    (["Secrets"], "should not contain capital letters"),
    (["*"], r"use '\*\.' to encrypt all the resources"),
    (["serviceipallocations"], "has no REST API"),
    (["events.events.k8s.io"], "use 'events' instead"),
    (["deployments.extensions"], "'extensions' group has been removed"),
    (["secrets.*"], "across groups is not supported"),
    (["secrets", "secrets"], "cannot be specified multiple times"),
    (["secrets", "*."], "overlapping resources"),
    (["*.*", "deployments.apps"], "overlapping resources"),
    ([""], "non-empty string"),
])
def test_resource_errors(resources: list[Any], message: str) -> None:
    err = _one({"identity": {}}, resources)
    assert re.search(message, err), err


def test_masked_by_earlier_wildcard() -> None:
    err = _err(_doc({"resources": ["*."], "providers": [{"identity": {}}]},
                    {"resources": ["secrets"], "providers": [prov("aesgcm", ("a", KEY_A))]}))
    assert "resource 'secrets' is masked by earlier rule '*.'" in err


def test_all_problems_reported_together() -> None:
    err = _err(_doc({"resources": ["Secrets"], "providers": [
        {"aescbc": {"keys": [{"name": "k", "secret": b64(b"x")}]}}, {"nope": {}}]}))
    assert "capital letters" in err
    assert "1 bytes after base64" in err
    assert "unknown provider 'nope'" in err


def test_secret_with_surrounding_whitespace_is_accepted() -> None:
    c = cfg({"aesgcm": {"keys": [{"name": "k", "secret": f" {b64(KEY_A)}\n"}]}})
    t = secrets_transformer(c)
    assert t.from_storage(t.to_storage(PLAIN, CTX), CTX) == PLAIN
