"""What the controller integration tests share: polling with a deadline, namespaces (with
their default ServiceAccount) and nodes, deleting without caring whether the object is
still there, kubectl that does not block the event loop the in-test controllers run on,
and the Events recorded about an object."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Resource
from kubesmith.client.rest import EVENTS, NAMESPACES, NODES, SERVICEACCOUNTS
from tests.conftest import RunningServer

T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T | None] | T | None], what: str = "condition",
                seconds: float = 20.0, *, interval: float = 0.1) -> T:
    """Poll ``check`` (sync or async) until it returns something truthy and return that;
    fail naming ``what`` after ``seconds``. An API error (an object not there yet) is one
    more try; the last one is in the failure message."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    last: Any = None
    while loop.time() < deadline:
        try:
            result = check()
            last = await result if asyncio.iscoroutine(result) else result
        except ApiError as exc:
            last = exc
        else:
            if last:
                found: T = last
                return found
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def wait_for(check: Callable[[], T | None], what: str, seconds: float = 20.0) -> T:
    """:func:`until` for tests that drive processes synchronously (no event loop)."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            found: T = last
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


async def has_default_service_account(client: Client, namespace: str) -> bool:
    """Whether the namespace's ``default`` ServiceAccount exists (pods need it)."""
    try:
        await client.get(SERVICEACCOUNTS, "default", namespace)
    except ApiError as exc:
        if exc.code == 404:
            return False
        raise
    return True


async def make_namespace(client: Client, name: str) -> None:
    """A namespace with its default ServiceAccount (pods need it)."""
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": name}})
    await until(lambda: has_default_service_account(client, name),
                f"default ServiceAccount in {name}")


async def drop_namespace(client: Client, name: str) -> None:
    """Delete a namespace without a namespace controller: release it by hand."""
    with contextlib.suppress(ApiError):
        await client.delete(NAMESPACES, name)
        await client.replace(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": name},
                                          "spec": {"finalizers": []}},
                             subresource="finalize")


async def delete_namespace_with(client: Client, namespace: str,
                                *resources: Resource) -> None:
    """Delete every object of ``resources`` in ``namespace`` at once (dropping finalizers
    a stopped controller left behind), then the namespace: no namespace controller runs
    to empty it."""
    for resource in resources:
        async for obj in client.list_all(resource, namespace):
            name = obj["metadata"]["name"]
            with contextlib.suppress(ApiError):
                if obj["metadata"].get("finalizers"):
                    await client.patch(resource, name, {"metadata": {"finalizers": None}},
                                       namespace)
                await client.delete(resource, name, namespace, grace_period_seconds=0)
    await client.delete(NAMESPACES, namespace)


async def make_node(client: Client, name: str, labels: dict[str, str] | None = None) -> None:
    """A Node object (no kubelet behind it)."""
    await client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                "metadata": {"name": name, "labels": labels or {}}})


async def delete_quietly(client: Client, resource: Resource, name: str,
                         namespace: str | None = None) -> None:
    """Delete at once (grace 0); already gone is fine."""
    try:
        await client.delete(resource, name, namespace, grace_period_seconds=0)
    except ApiError as exc:
        if exc.code != 404:
            raise


async def absent(client: Client, resource: Resource, name: str,
                 namespace: str | None = None) -> bool:
    """Whether the object is gone (404)."""
    try:
        await client.get(resource, name, namespace)
    except ApiError as exc:
        if exc.code == 404:
            return True
        raise
    return False


async def wait_gone(client: Client, resource: Resource, name: str,
                    namespace: str | None = None, seconds: float = 20.0) -> None:
    """Wait until the object is deleted."""
    await until(lambda: absent(client, resource, name, namespace),
                f"{resource.plural} {namespace}/{name} to be deleted", seconds)


async def kubectl(server: RunningServer, *args: str, check: bool = True,
                  seconds: float = 60) -> subprocess.CompletedProcess[str]:
    """Real kubectl in a thread: the controllers under test share this event loop and
    must keep going while kubectl waits (rollout status, wait, delete)."""
    done: subprocess.CompletedProcess[str] = await asyncio.to_thread(
        server.kubectl, *args, check=check, timeout=seconds)
    return done


async def events_about(client: Client, namespace: str, name: str,
                       reason: str | None = None) -> list[Obj]:
    """The Events recorded about the object ``name`` in ``namespace`` (with ``reason``)."""
    page = await client.list(EVENTS, namespace, field_selector=f"involvedObject.name={name}")
    return [e for e in page.items if reason is None or e.get("reason") == reason]


async def event_triples(client: Client, namespace: str, name: str,
                        expect: tuple[tuple[str, str, str] | str, ...] = (),
                        seconds: float = 10.0) -> list[tuple[str, str, str]]:
    """``(type, reason, message)`` of the Events about ``name``. Controllers record Events
    asynchronously, so with ``expect`` (triples, or bare reasons) this waits until all of
    them are there (or ``seconds`` pass) before answering."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = [(e["type"], e["reason"], e["message"])
                 for e in await events_about(client, namespace, name)]
        reasons = {r for _t, r, _m in found}
        if all((w in reasons) if isinstance(w, str) else (w in found) for w in expect) or \
                asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)
