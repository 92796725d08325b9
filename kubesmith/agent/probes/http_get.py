"""The httpGet probe, with the kubelet's request, redirect and result rules.

A deliberately small HTTP/1.1 client (one request per connection, like the kubelet's
keep-alive-less transport): it lets every failure be reported in the words of Go's
``net/http`` client, which is what users see in ``Unhealthy`` events, and costs no
session setup per probe. Rules kept from upstream: scheme HTTP/HTTPS (no certificate
verification), host defaulting to the pod IP, ``User-Agent: kube-probe/<major>.<minor>``
and ``Accept: */*`` unless overridden, redirects followed only to the same host (up to
10), a 3xx left unfollowed is a success with a warning, success for 200 <= code < 400,
at most 10 KiB of body read, and one timeout for the whole exchange.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import SplitResult, quote, urljoin, urlsplit

from kubesmith.agent.probes.dial import DialError, close_quietly, dial
from kubesmith.agent.probes.ports import PortError, resolve_port
from kubesmith.agent.probes.result import (
    MAX_OUTPUT,
    ProbeResult,
    errored,
    failure,
    join_host_port,
    success,
)
from kubesmith.api.types import Obj

USER_AGENT = "kube-probe/1.37"
MAX_REDIRECTS = 10
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
MAX_HEADER_LINES = 200

_tls_context: ssl.SSLContext | None = None


def _insecure_tls() -> ssl.SSLContext:
    global _tls_context
    if _tls_context is None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _tls_context = context
    return _tls_context


class RequestError(Exception):
    """``client.Do`` failed; ``str()`` is the text after ``Get "<url>": ``."""


@dataclass
class Response:
    status: int
    headers: dict[str, list[str]]
    body: bytes = b""


@dataclass
class _Exchange:
    """Progress of one probe, to word a timeout by where it struck."""

    url: str
    headers_received: bool = False
    redirects: list[str] = field(default_factory=list)


def format_url(scheme: str, host: str, port: int, path: str) -> str:
    """The probe URL: ``path`` may carry a query; the host and port always come from the
    probe (as upstream's formatURL overwrites them)."""
    parts = urlsplit(path)
    url_path = quote(parts.path, safe="/:@!$&'()*+,;=-._~%")
    if url_path and not url_path.startswith("/"):
        url_path = "/" + url_path
    url = f"{scheme}://{join_host_port(host, port)}{url_path}"
    if parts.query:
        url += "?" + parts.query
    return url


def _canonical(name: str) -> str:
    """Go's CanonicalMIMEHeaderKey: ``content-type`` -> ``Content-Type``."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def probe_headers(http_headers: list[Obj]) -> list[tuple[str, str]]:
    """Request headers: the probe's ``httpHeaders`` plus the kubelet's defaults."""
    headers = [(_canonical(str(h.get("name", ""))), str(h.get("value", "")))
               for h in http_headers]
    names = {name for name, _ in headers}
    if "User-Agent" not in names:
        headers.append(("User-Agent", USER_AGENT))
    if "Accept" not in names:
        headers.append(("Accept", "*/*"))
    elif _first(headers, "Accept") == "":
        headers = [(name, value) for name, value in headers if name != "Accept"]
    # Go sends no User-Agent at all when it is set to the empty string.
    return [(name, value) for name, value in headers if (name, value) != ("User-Agent", "")]


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key == name), None)


async def http_get_probe(action: Obj, *, pod_ip: str, container: Obj,
                         time_limit: float) -> ProbeResult:
    scheme = str(action.get("scheme") or "HTTP").lower()
    host = str(action.get("host") or pod_ip)
    try:
        port = resolve_port(action.get("port"), container)
    except PortError as exc:
        return errored(str(exc))
    url = format_url(scheme, host, port, str(action.get("path") or ""))
    headers = probe_headers(list(action.get("httpHeaders") or []))
    exchange = _Exchange(url)
    try:
        async with asyncio.timeout(time_limit):
            response = await _get(exchange, headers)
    except TimeoutError:
        if exchange.headers_received:
            return errored("context deadline exceeded "
                           "(Client.Timeout or context cancellation while reading body)")
        return failure(f'Get "{exchange.url}": context deadline exceeded '
                       "(Client.Timeout exceeded while awaiting headers)")
    except RequestError as exc:
        return failure(f'Get "{exchange.url}": {exc}')
    body = response.body[:MAX_OUTPUT].decode(errors="replace")
    if 200 <= response.status < 400:
        if response.status >= 300:
            return success(f"Probe terminated redirects, Response body: {body}", warning=True)
        return success(body)
    # Upstream keeps the body out of this message on purpose (it may hold secrets).
    return failure(f"HTTP probe failed with statuscode: {response.status}")


async def _get(exchange: _Exchange, headers: list[tuple[str, str]]) -> Response:
    """GET ``exchange.url``, following same-host redirects."""
    first_host = urlsplit(exchange.url).hostname
    original_netloc = urlsplit(exchange.url).netloc
    while True:
        parts = urlsplit(exchange.url)
        if parts.scheme not in ("http", "https"):
            raise RequestError(f'unsupported protocol scheme "{parts.scheme}"')
        # A custom Host header is kept only while the request stays on the original host.
        send = headers if parts.netloc == original_netloc else [
            (k, v) for k, v in headers if k != "Host"]
        response = await _request(parts, send, exchange)
        location = _first_header(response, "Location")
        if response.status not in REDIRECT_CODES or location is None:
            return response
        target = urljoin(exchange.url, location)
        if urlsplit(target).hostname != first_host:
            return response  # not followed: the caller reports it as a warning
        exchange.redirects.append(exchange.url)
        exchange.url = target
        if len(exchange.redirects) >= MAX_REDIRECTS:
            raise RequestError(f"stopped after {MAX_REDIRECTS} redirects")
        exchange.headers_received = False


def _first_header(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


async def _request(parts: SplitResult, headers: list[tuple[str, str]],
                   exchange: _Exchange) -> Response:
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    tls = _insecure_tls() if parts.scheme == "https" else None
    try:
        reader, writer = await dial(host, port, tls=tls)
    except DialError as exc:
        raise RequestError(str(exc)) from None
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = _first(headers, "Host") or parts.netloc
        lines = [f"GET {target} HTTP/1.1", f"Host: {host_header}"]
        lines += [f"{name}: {value}" for name, value in headers if name != "Host"]
        lines += ["Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1", errors="replace"))
        await writer.drain()
        return await _read_response(reader, exchange)
    except (ConnectionError, OSError) as exc:
        raise RequestError(_io_error(writer, exc)) from None
    finally:
        await close_quietly(writer)


def _io_error(writer: asyncio.StreamWriter, exc: OSError) -> str:
    local = writer.get_extra_info("sockname")
    remote = writer.get_extra_info("peername")
    if isinstance(exc, ConnectionResetError) and local and remote:
        return (f"read tcp {join_host_port(local[0], local[1])}->"
                f"{join_host_port(remote[0], remote[1])}: read: connection reset by peer")
    return str(exc) or type(exc).__name__


async def _read_response(reader: asyncio.StreamReader, exchange: _Exchange) -> Response:
    while True:
        status_line = await reader.readline()
        if not status_line:
            raise RequestError("EOF")
        fields = status_line.decode("latin-1").split(None, 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            text = status_line.decode("latin-1").rstrip("\r\n")
            raise RequestError("net/http: HTTP/1.x transport connection broken: "
                               f'malformed HTTP response "{text}"')
        status = int(fields[1])
        headers = await _read_headers(reader)
        if 100 <= status < 200 and status != 101:
            continue  # informational responses precede the real one
        exchange.headers_received = True
        return Response(status, headers, await _read_body(reader, status, headers))


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for _ in range(MAX_HEADER_LINES):
        line = await reader.readline()
        if not line:
            raise RequestError("unexpected EOF")
        if line in (b"\r\n", b"\n"):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    raise RequestError("net/http: HTTP/1.x transport connection broken: too many headers")


async def _read_body(reader: asyncio.StreamReader, status: int,
                     headers: dict[str, list[str]]) -> bytes:
    """Up to MAX_OUTPUT bytes of the body; the rest is never read (the connection closes)."""
    if status in (204, 304):
        return b""
    if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
        return await _read_chunked(reader)
    length_values = headers.get("content-length")
    if length_values:
        try:
            length = int(length_values[0])
        except ValueError:
            raise RequestError(
                f'bad Content-Length "{length_values[0]}"') from None
        wanted = min(length, MAX_OUTPUT)
        try:
            return await reader.readexactly(wanted)
        except asyncio.IncompleteReadError:
            raise RequestError("unexpected EOF") from None
    body = bytearray()
    while len(body) < MAX_OUTPUT:
        data = await reader.read(MAX_OUTPUT - len(body))
        if not data:
            break
        body += data
    return bytes(body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while len(body) < MAX_OUTPUT:
        size_line = await reader.readline()
        if not size_line:
            raise RequestError("unexpected EOF")
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        except ValueError:
            raise RequestError("invalid byte in chunk length") from None
        if size == 0:
            break
        try:
            chunk = await reader.readexactly(size)
            await reader.readexactly(2)  # the CRLF after each chunk
        except asyncio.IncompleteReadError:
            raise RequestError("unexpected EOF") from None
        body += chunk
    return bytes(body[:MAX_OUTPUT])
