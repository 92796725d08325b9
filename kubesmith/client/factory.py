"""One informer per resource shared by every controller in a process (client-go's
SharedInformerFactory): N controllers watching pods cost the API server one watch and the
process one cache."""

from __future__ import annotations

import asyncio

from kubesmith.client.informer import Informer
from kubesmith.client.rest import Client, Resource


class InformerFactory:
    """Hands out shared informers; :meth:`start` runs every informer handed out so far."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._informers: dict[Resource, Informer] = {}

    def informer(self, resource: Resource) -> Informer:
        """The shared (cluster-wide) informer for ``resource``."""
        found = self._informers.get(resource)
        if found is None:
            found = self._informers[resource] = Informer(self.client, resource)
        return found

    def start(self) -> None:
        """Start every informer not yet running (idempotent)."""
        for informer in self._informers.values():
            informer.start()

    async def wait_synced(self, *resources: Resource) -> None:
        """Wait until the given informers (default: all) have listed once."""
        wanted = [self._informers[r] for r in resources] if resources else \
            [*self._informers.values()]
        await asyncio.gather(*(i.wait_synced() for i in wanted))

    async def stop(self) -> None:
        """Stop every informer."""
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
