"""Legacy Secret-based ServiceAccount tokens: accepted only when enabled, only while the
Secret holds the very token and the ServiceAccount exists with the token's uid."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import jwt

from kubesmith.api.resources import Resources
from kubesmith.api.store import ResourceStore
from kubesmith.apiserver import pki
from kubesmith.apiserver.legacy_tokens import INVALID_SINCE_LABEL, LAST_USED_LABEL
from kubesmith.apiserver.serviceaccounts import TokenService
from kubesmith.controllers.serviceaccount_tokens import sign_legacy_token

Obj = dict[str, Any]


def _store(res: Resources, kind: str) -> ResourceStore:
    store = res.for_kind("", kind)
    assert store is not None
    return store


def _service(res: Resources, tmp_path: Path, *, legacy: bool = True) -> TokenService:
    return TokenService.load(pki.ensure_service_account_key(tmp_path), res, legacy=legacy)


async def _issue(service: TokenService, secret_name: str = "robot-token",
                 token: str | None = None) -> tuple[str, Obj, Obj]:
    """A ServiceAccount, a token Secret holding a legacy token for it, and the token."""
    sa = await _store(service.resources, "ServiceAccount").create("default", {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}})
    secrets = _store(service.resources, "Secret")
    secret: Obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": secret_name,
        "annotations": {"kubernetes.io/service-account.name": "robot"}},
        "type": "kubernetes.io/service-account-token"}
    signed = sign_legacy_token(service.key, secret, sa)
    secret["data"] = {"token": base64.b64encode((token or signed).encode()).decode()}
    created = await secrets.create("default", secret)
    await secrets.cache.wait_consistent()
    return signed, sa, created


async def test_valid_while_secret_and_service_account_exist(resources: Resources,
                                                            tmp_path: Path) -> None:
    service = _service(resources, tmp_path)
    token, sa, _ = await _issue(service)
    user = await service.verify(token)
    assert user is not None
    assert user.name == "system:serviceaccount:default:robot"
    assert user.uid == sa["metadata"]["uid"]
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:default",
                           "system:authenticated")
    # Meant for this API server only: another audience does not accept it.
    assert await service.verify(token, ["vault"]) is None
    await _store(resources, "Secret").delete("default", "robot-token")
    await _store(resources, "Secret").cache.wait_consistent()
    assert await service.verify(token) is None


async def test_refused_when_disabled(resources: Resources, tmp_path: Path) -> None:
    token, _, _ = await _issue(_service(resources, tmp_path))
    assert await _service(resources, tmp_path, legacy=False).verify(token) is None


async def test_secret_must_hold_this_token(resources: Resources, tmp_path: Path) -> None:
    service = _service(resources, tmp_path)
    token, _, _ = await _issue(service, token="some-other-token")
    assert await service.verify(token) is None


async def test_forged_or_foreign_tokens(resources: Resources, tmp_path: Path) -> None:
    service = _service(resources, tmp_path)
    token, _, _ = await _issue(service)
    claims = jwt.decode(token, options={"verify_signature": False})
    other = _service(resources, tmp_path / "other")
    assert await service.verify(jwt.encode(claims, other.key, algorithm="ES256")) is None
    for bad in ({"sub": "system:serviceaccount:default:admin"},
                {"kubernetes.io/serviceaccount/service-account.uid": "x"},
                {"iss": "someone"}):
        forged = jwt.encode({**claims, **bad}, service.key, algorithm="ES256")
        assert await service.verify(forged) is None, bad


async def test_recreated_service_account_revokes(resources: Resources,
                                                 tmp_path: Path) -> None:
    service = _service(resources, tmp_path)
    token, _, _ = await _issue(service)
    sas = _store(resources, "ServiceAccount")
    await sas.delete("default", "robot")
    await sas.create("default", {"apiVersion": "v1", "kind": "ServiceAccount",
                                 "metadata": {"name": "robot"}})
    await sas.cache.wait_consistent()
    assert await service.verify(token) is None


async def test_invalid_since_label_and_last_used(resources: Resources,
                                                 tmp_path: Path) -> None:
    service = _service(resources, tmp_path)
    token, _, _ = await _issue(service)
    assert await service.verify(token) is not None
    secrets = _store(resources, "Secret")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    deadline = time.monotonic() + 5
    while True:
        await secrets.cache.wait_consistent()
        labels = (await secrets.get("default", "robot-token")).obj["metadata"].get(
            "labels") or {}
        if labels.get(LAST_USED_LABEL) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    assert labels == {LAST_USED_LABEL: today}

    def invalidate(cur: Obj | None) -> Obj:
        assert cur is not None
        cur["metadata"]["labels"][INVALID_SINCE_LABEL] = "2020-01-01"
        return cur

    await secrets.update("default", "robot-token", invalidate)
    await secrets.cache.wait_consistent()
    assert await service.verify(token) is None
