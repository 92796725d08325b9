"""Per-controller identities (kube-controller-manager's ``--use-service-account-credentials``).

Each controller acts as the ServiceAccount ``kube-system/<controller name>``, bound by the
bootstrap policy to the ClusterRole ``system:controller:<name>``, so a bug in one controller
cannot do what only another may (the root CA publisher may write ConfigMaps, the deployment
controller may not). The manager's own identity (system:kube-controller-manager) may create
those ServiceAccounts and request their tokens; nothing else.

Tokens are bound tokens from the TokenRequest API with a one-hour lifetime, refreshed at 80%
of it by a background task, so a controller never holds a long-lived credential and a
revoked ServiceAccount stops working within the hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson

from kubesmith.client import ApiError, Client
from kubesmith.client.rest import SERVICEACCOUNTS

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
TOKEN_SECONDS = 3600


class ServiceAccountCredentials:
    """Hands out clients acting as controller ServiceAccounts, created with ``root``
    (the manager's identity) and kept fresh until :meth:`close`."""

    def __init__(self, root: Client, token_seconds: int = TOKEN_SECONDS) -> None:
        self.root = root
        self.token_seconds = token_seconds
        self._clients: dict[str, Client] = {}
        self._refreshers: list[asyncio.Task[None]] = []

    async def client_for(self, account: str, *, user_agent: str | None = None) -> Client:
        """A client authenticating as ``kube-system/<account>`` (one per account)."""
        found = self._clients.get(account)
        if found is not None:
            return found
        token, lifetime = await self._token(account)
        client = Client(self.root.config.with_bearer_token(token),
                        user_agent=user_agent or f"kube-controller-manager/{account}")
        self._clients[account] = client
        self._refreshers.append(asyncio.get_running_loop().create_task(
            self._refresh(account, client, lifetime), name=f"token-refresh-{account}"))
        return client

    async def close(self) -> None:
        """Stop refreshing and close every client handed out."""
        for task in self._refreshers:
            task.cancel()
        for task in self._refreshers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._refreshers.clear()
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        self._clients.clear()

    async def _ensure_account(self, account: str) -> None:
        try:
            await self.root.create(SERVICEACCOUNTS, {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": account, "namespace": NAMESPACE}}, NAMESPACE)
        except ApiError as exc:
            if exc.code != 409:
                raise

    async def _token(self, account: str) -> tuple[str, float]:
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "spec": {"expirationSeconds": self.token_seconds}}
        path = SERVICEACCOUNTS.path(NAMESPACE, account, "token")
        for attempt in range(2):
            try:
                issued = await self.root.request("POST", path, body=orjson.dumps(request))
                break
            except ApiError as exc:
                if exc.code != 404 or attempt:
                    raise
                await self._ensure_account(account)
        status = issued.get("status") or {}
        token = str(status.get("token") or "")
        if not token:
            raise RuntimeError(f"no token issued for {NAMESPACE}/{account}")
        return token, float(self.token_seconds)

    async def _refresh(self, account: str, client: Client, lifetime: float) -> None:
        delay = lifetime * 0.8
        while True:
            await asyncio.sleep(delay)
            try:
                token, lifetime = await self._token(account)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Keep using the current token (still valid for 20% of its life) and
                # retry soon.
                log.warning("refreshing the token of %s/%s failed: %r", NAMESPACE, account,
                            exc)
                delay = 10.0
                continue
            client.set_bearer_token(token)
            delay = lifetime * 0.8
