"""Token verification rules: expiry, issuer, audience, signature, revocation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from kubesmith.api.registry import Registry
from kubesmith.api.resources import Resources
from kubesmith.apiserver import pki
from kubesmith.apiserver.serviceaccounts import TokenService

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def tokens(tmp_path: Path) -> AsyncIterator[TokenService]:
    res = await Resources.open(Registry(), f"sqlite://{tmp_path}/s.db")
    await res.start()
    sas = res.for_kind("", "ServiceAccount")
    assert sas is not None
    await sas.create("default", {"apiVersion": "v1", "kind": "ServiceAccount",
                                 "metadata": {"name": "robot"}})
    try:
        yield TokenService.load(pki.ensure_service_account_key(tmp_path), res)
    finally:
        await res.close()


async def _claims(service: TokenService) -> dict[str, Any]:
    answer = await service.token_request("default", "robot", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    token = answer["status"]["token"]
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _sign(service: TokenService, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, service.key, algorithm="ES256")


async def test_valid_token_then_expired_wrong_issuer_wrong_audience(
        tokens: TokenService) -> None:
    claims = await _claims(tokens)
    user = await tokens.verify(_sign(tokens, claims))
    assert user is not None and user.name == "system:serviceaccount:default:robot"
    expired = {**claims, "exp": int(time.time()) - 5, "iat": int(time.time()) - 4000}
    assert await tokens.verify(_sign(tokens, expired)) is None
    assert await tokens.verify(_sign(tokens, {**claims, "iss": "https://evil"})) is None
    assert await tokens.verify(_sign(tokens, {**claims, "aud": ["other"]})) is None
    assert await tokens.verify(_sign(tokens, claims), ["other"]) is None


async def test_foreign_key_and_deleted_service_account(tokens: TokenService,
                                                       tmp_path: Path) -> None:
    claims = await _claims(tokens)
    other = TokenService.load(pki.ensure_service_account_key(tmp_path / "other"),
                              tokens.resources)
    assert await tokens.verify(_sign(other, claims)) is None
    token = _sign(tokens, claims)
    assert await tokens.verify(token) is not None
    sas = tokens.resources.for_kind("", "ServiceAccount")
    assert sas is not None
    await sas.delete("default", "robot")
    await sas.cache.wait_consistent()
    assert await tokens.verify(token) is None  # revoked with its ServiceAccount
