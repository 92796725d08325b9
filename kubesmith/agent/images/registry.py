"""A client for the OCI distribution API (v2), enough to pull images.

One :class:`RegistryClient` serves one pull from one repository. Authentication follows the
registry's ``WWW-Authenticate`` challenge: anonymous first, then Basic with the pull
credentials, or a Bearer token fetched from the challenge's realm (anonymously, with Basic
credentials, or with an OAuth2 refresh token). Redirects are followed by hand so the
``Authorization`` header never travels to another host (blob downloads are often redirected
to object storage). Every manifest and blob is hashed and compared with its digest before
anything trusts it. Registries on loopback addresses and those listed as insecure are spoken
to over plain HTTP, all others over HTTPS. Credentials and tokens appear in no log line and no
exception message.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from yarl import URL

from kubesmith.agent.images.credentials import RegistryAuth
from kubesmith.agent.images.manifests import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_MANIFEST_BYTES,
    Descriptor,
    sha256_digest,
)
from kubesmith.agent.images.reference import ImageReference

log = logging.getLogger(__name__)

_ACCEPT = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
_MAX_REDIRECTS = 5
_CHUNK = 1 << 20
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


class RegistryError(Exception):
    """The registry refused or failed a request; ``message`` is the registry's own words."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @property
    def unauthorized(self) -> bool:
        return self.status in (401, 403)


def uses_plain_http(domain: str, insecure_registries: Sequence[str] = ()) -> bool:
    """Whether to speak HTTP (not HTTPS) to the registry ``domain`` ("host[:port]")."""
    if domain in insecure_registries:
        return True
    host = URL(f"http://{domain}").host or ""
    if host in insecure_registries or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split ``WWW-Authenticate: Bearer realm="...",service="..."`` into scheme and params."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for key, value in _CHALLENGE_PARAM.findall(rest):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key.lower()] = value
    return scheme.lower(), params


class RegistryClient:
    """Requests to one repository, authenticated as the registry asks."""

    def __init__(self, session: aiohttp.ClientSession, ref: ImageReference,
                 auth: RegistryAuth | None, *, plain_http: bool = False) -> None:
        self._session = session
        self._ref = ref
        self._auth = auth
        self._base = URL(f"{'http' if plain_http else 'https'}://{ref.api_host}")
        self._authorization: str | None = None
        if auth is not None and auth.registry_token:
            self._authorization = f"Bearer {auth.registry_token}"

    def _url(self, kind: str, reference: str) -> URL:
        return self._base.with_path(f"/v2/{self._ref.path}/{kind}/{reference}")

    async def get_manifest(self, reference: str) -> tuple[bytes, str, str]:
        """Fetch a manifest or index by tag or digest: (bytes, media type, digest).

        The digest is computed from the bytes and must equal the one asked for (if
        ``reference`` is a digest) and the one the registry claims (Docker-Content-Digest).
        """
        response = await self._request(self._url("manifests", reference),
                                       {"Accept": _ACCEPT})
        async with response:
            data = await _read_limited(response, MAX_MANIFEST_BYTES)
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            claimed = response.headers.get("Docker-Content-Digest", "")
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"manifest digest mismatch: asked for {reference}, "
                                f"received content with digest {digest}")
        if claimed.startswith("sha256:") and claimed != digest:
            raise RegistryError(f"manifest digest mismatch: registry says {claimed}, "
                                f"content has digest {digest}")
        return data, media_type, digest

    async def get_blob(self, descriptor: Descriptor, limit: int = MAX_MANIFEST_BYTES) -> bytes:
        """Fetch a small blob (an image config) into memory, verified."""
        if descriptor.size > limit:
            raise RegistryError(f"blob {descriptor.digest} is too large ({descriptor.size} bytes)")
        response = await self._request(self._url("blobs", descriptor.digest), {})
        async with response:
            data = await _read_limited(response, limit)
        _check_blob(descriptor, hashlib.sha256(data).hexdigest(), len(data))
        return data

    async def download_blob(self, descriptor: Descriptor, target: Path) -> None:
        """Stream a blob into the file ``target``, verifying its size and digest."""
        response = await self._request(self._url("blobs", descriptor.digest), {})
        sha256, received = hashlib.sha256(), 0
        # Disk writes go to a worker thread: a slow disk must not stall the agent's loop.
        out = await asyncio.to_thread(open, target, "wb")
        try:
            async with response:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    received += len(chunk)
                    if received > descriptor.size:
                        break
                    sha256.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
        finally:
            await asyncio.to_thread(out.close)
        _check_blob(descriptor, sha256.hexdigest(), received)

    async def _request(self, url: URL, headers: dict[str, str]) -> aiohttp.ClientResponse:
        """GET ``url``, answering one authentication challenge; raises on error statuses."""
        response = await self._get(url, headers)
        if response.status == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            message = await _error_message(response)
            response.release()
            await self._answer_challenge(challenge, message)
            response = await self._get(url, headers)
        if response.status >= 400:
            message = await _error_message(response)
            response.release()
            raise RegistryError(message, response.status)
        return response

    async def _get(self, url: URL, headers: dict[str, str]) -> aiohttp.ClientResponse:
        """GET following redirects, dropping credentials when the origin changes."""
        authorization = self._authorization
        for _ in range(_MAX_REDIRECTS + 1):
            sent = dict(headers)
            if authorization:
                sent["Authorization"] = authorization
            response = await self._session.get(url, headers=sent, allow_redirects=False)
            location = response.headers.get("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            response.release()
            target = url.join(URL(location))
            if target.origin() != url.origin():
                authorization = None
            url = target
        raise RegistryError(f"too many redirects fetching {url.with_query(None)}")

    async def _answer_challenge(self, challenge: str, registry_message: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self._auth is None or not self._auth.username:
                raise RegistryError(registry_message, 401)
            self._authorization = _basic(self._auth)
        elif scheme == "bearer" and params.get("realm"):
            self._authorization = f"Bearer {await self._fetch_token(params)}"
        else:
            raise RegistryError(registry_message, 401)

    async def _fetch_token(self, params: dict[str, str]) -> str:
        """Get a Bearer token from the challenge's realm (docker token auth spec)."""
        realm = URL(params["realm"])
        scope = params.get("scope") or f"repository:{self._ref.path}:pull"
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        auth = self._auth
        if auth is not None and auth.identity_token:
            form = {**query, "grant_type": "refresh_token", "client_id": "kubesmith",
                    "refresh_token": auth.identity_token}
            response = await self._session.post(realm, data=form)
        else:
            headers = ({"Authorization": _basic(auth)}
                       if auth is not None and auth.username else {})
            response = await self._session.get(realm.update_query(query), headers=headers)
        async with response:
            if response.status >= 400:
                raise RegistryError(await _error_message(response), response.status)
            try:
                body: Any = orjson.loads(await _read_limited(response, 1 << 20))
            except orjson.JSONDecodeError:
                body = None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) \
            else None
        if not isinstance(token, str) or not token:
            raise RegistryError("authorization server returned no token", 401)
        return token


def _basic(auth: RegistryAuth) -> str:
    return "Basic " + base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()


def _check_blob(descriptor: Descriptor, hex_digest: str, size: int) -> None:
    if size != descriptor.size:
        raise RegistryError(f"blob {descriptor.digest}: expected {descriptor.size} bytes, "
                            f"received {size if size <= descriptor.size else 'more'}")
    if f"sha256:{hex_digest}" != descriptor.digest:
        raise RegistryError(f"blob digest mismatch: expected {descriptor.digest}, "
                            f"content has digest sha256:{hex_digest}")


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    data = await response.content.read(limit + 1)
    if len(data) > limit:
        raise RegistryError(f"response larger than {limit} bytes")
    return data


async def _error_message(response: aiohttp.ClientResponse) -> str:
    """The registry's explanation: the ``errors`` messages of its JSON body, else the
    status line."""
    try:
        body: Any = orjson.loads(await response.content.read(64 << 10))
    except (orjson.JSONDecodeError, aiohttp.ClientError):
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    messages = [str(e.get("message") or e.get("code"))
                for e in errors or [] if isinstance(e, dict)]
    if isinstance(body, dict) and not messages and body.get("details"):
        messages = [str(body["details"])]  # token servers answer {"details": "..."}
    return "; ".join(messages) or f"{response.status} {response.reason or ''}".strip()
