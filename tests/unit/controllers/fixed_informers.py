"""Informers over fixed objects for unit tests of controller parts that read caches: the
client lists the given objects once and its watches never deliver anything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from kubesmith.client import Client, Informer, ListResult, Resource


class ListOnlyClient:
    """Lists fixed objects (by resource plural) once; its watches never deliver anything."""

    def __init__(self, items: dict[str, list[dict[str, Any]]]) -> None:
        self.items = items

    async def list(self, resource: Resource, namespace: str | None = None,
                   **kwargs: Any) -> ListResult:
        return ListResult(self.items.get(resource.plural, []), "1", None)

    async def watch(self, resource: Resource, namespace: str | None = None,
                    **kwargs: Any) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        await asyncio.sleep(3600)
        yield "BOOKMARK", {}


def fixed_informers(*resources: Resource, **items: list[dict[str, Any]]) -> list[Informer]:
    """One informer per resource over ``items`` (keyed by plural); run them with
    :func:`synced`."""
    client = cast(Client, ListOnlyClient(items))
    return [Informer(client, resource) for resource in resources]


@asynccontextmanager
async def synced(*informers: Informer) -> AsyncIterator[None]:
    """Run ``informers`` until their first list is in the store; stop them afterwards."""
    for informer in informers:
        informer.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(i.wait_synced() for i in informers)), 5)
        yield
    finally:
        for informer in informers:
            await informer.stop()
