"""Legacy Secret-based ServiceAccount tokens end to end: the tokens controller fills in a
``kubernetes.io/service-account-token`` Secret, the token authenticates as the
ServiceAccount while the Secret and the ServiceAccount exist, and only on a server started
with ``--service-account-legacy-tokens``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesmith.client import Client
from kubesmith.controllers.serviceaccount_tokens import ServiceAccountTokensController

pytestmark = pytest.mark.integration

DEADLINE = 20.0


def _secret(name: str, sa: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": name,
                     "annotations": {"kubernetes.io/service-account.name": sa}}})


@contextlib.asynccontextmanager
async def _tokens_controller(server: Any) -> AsyncIterator[None]:
    """The tokens controller against ``server``, as the controller manager's identity.

    A server started with ``--service-account-legacy-tokens`` runs it in its own
    controller manager; this runs one for a server that does not (to show that such a
    server refuses the tokens anyway)."""
    client = Client.from_kubeconfig(str(server.data_dir / "controller-manager.kubeconfig"))
    controller = ServiceAccountTokensController(
        client, (server.data_dir / "pki" / "sa.key").read_bytes(),
        (server.data_dir / "pki" / "ca.crt").read_bytes())
    task = asyncio.create_task(controller.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()


async def _kubectl(server: Any, *args: str, **kwargs: Any) -> Any:
    # In a thread: the controller runs on this test's event loop meanwhile.
    return await asyncio.to_thread(server.kubectl, *args, **kwargs)


async def _whoami(server: Any, token: str) -> Any:
    return await asyncio.to_thread(server.kubectl_as, "auth", "whoami", "-o", "json",
                                   token=token)


async def _filled_secret(server: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        secret: dict[str, Any] = json.loads(
            (await _kubectl(server, "get", "secret", name, "-o", "json")).stdout)
        if (secret.get("data") or {}).get("token"):
            return secret
        await asyncio.sleep(0.1)
    raise AssertionError(f"secret {name} never got a token")


async def _until_refused(server: Any, token: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        proc = await _whoami(server, token)
        if proc.returncode != 0:
            assert "Unauthorized" in proc.stderr, proc.stderr
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the token was still accepted")


async def _until_gone(server: Any, kind: str, name: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        proc = await _kubectl(server, "get", kind, name, check=False)
        if proc.returncode != 0 and "NotFound" in proc.stderr:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{kind} {name} was not deleted")


async def test_secret_token_lifecycle(server_factory: Any) -> None:
    server = server_factory("--service-account-legacy-tokens")
    await _kubectl(server, "create", "serviceaccount", "build-robot")
    sa = json.loads((await _kubectl(server, "get", "sa", "build-robot", "-o",
                                    "json")).stdout)
    await _kubectl(server, "create", "-f", "-", input=_secret("build-robot-token",
                                                              "build-robot"))
    async with contextlib.nullcontext():  # the server runs the tokens controller
        secret = await _filled_secret(server, "build-robot-token")
        data = secret["data"]
        assert base64.b64decode(data["namespace"]) == b"default"
        assert base64.b64decode(data["ca.crt"]) == \
            (server.data_dir / "pki" / "ca.crt").read_bytes()
        assert secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"] == \
            sa["metadata"]["uid"]
        token = base64.b64decode(data["token"]).decode()

        whoami = await _whoami(server, token)
        assert whoami.returncode == 0, whoami.stderr
        info = json.loads(whoami.stdout)["status"]["userInfo"]
        assert info["username"] == "system:serviceaccount:default:build-robot"
        assert info["uid"] == sa["metadata"]["uid"]
        assert sorted(info["groups"]) == ["system:authenticated", "system:serviceaccounts",
                                          "system:serviceaccounts:default"]
        review = json.loads((await _kubectl(
            server, "create", "-f", "-", "-o", "json", input=json.dumps({
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "spec": {"token": token}}))).stdout)["status"]
        assert review["authenticated"] is True
        assert review["user"]["username"] == "system:serviceaccount:default:build-robot"

        # Deleting the Secret revokes the token.
        await _kubectl(server, "delete", "secret", "build-robot-token")
        await _until_refused(server, token)

        # Deleting the ServiceAccount deletes its token Secrets (and so revokes them).
        await _kubectl(server, "create", "-f", "-", input=_secret("second", "build-robot"))
        second = base64.b64decode(
            (await _filled_secret(server, "second"))["data"]["token"]).decode()
        assert (await _whoami(server, second)).returncode == 0
        await _kubectl(server, "delete", "sa", "build-robot")
        await _until_gone(server, "secret", "second")
        await _until_refused(server, second)

        # A token Secret for a ServiceAccount that does not exist is deleted, not filled.
        await _kubectl(server, "create", "-f", "-", input=_secret("orphan", "nobody"))
        await _until_gone(server, "secret", "orphan")


async def test_refused_unless_enabled(server_factory: Any) -> None:
    server = server_factory()
    await _kubectl(server, "create", "serviceaccount", "robot")
    await _kubectl(server, "create", "-f", "-", input=_secret("robot-token", "robot"))
    async with _tokens_controller(server):
        token = base64.b64decode(
            (await _filled_secret(server, "robot-token"))["data"]["token"]).decode()
    refused = await _whoami(server, token)
    assert refused.returncode == 1 and "Unauthorized" in refused.stderr
    review = json.loads((await _kubectl(
        server, "create", "-f", "-", "-o", "json", input=json.dumps({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": token}}))).stdout)["status"]
    assert review.get("authenticated") is not True
    # Bound tokens keep working on the same server.
    bound = (await _kubectl(server, "create", "token", "robot")).stdout.strip()
    assert (await _whoami(server, bound)).returncode == 0
