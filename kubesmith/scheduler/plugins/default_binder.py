"""DefaultBinder: binds through the ``pods/binding`` subresource, as every scheduler
does (the API server sets ``spec.nodeName`` and the PodScheduled condition). Bindings are
the scheduler's most frequent request, so they go over the client's lean keep-alive
connections (:meth:`~kubesmith.client.rest.Client.lean_request`)."""

from __future__ import annotations

import orjson

from kubesmith.client.rest import PODS, ApiError
from kubesmith.scheduler.framework import BindPlugin, CycleState, Status, error
from kubesmith.scheduler.handle import Handle
from kubesmith.scheduler.podinfo import PodInfo


def binding_body(pod: PodInfo, node_name: str) -> bytes:
    """The ``v1.Binding`` for ``pod`` (its UID guards against binding a recreated pod)."""
    return orjson.dumps({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
    })


class DefaultBinder(BindPlugin):
    """Upstream's DefaultBinder."""

    name = "DefaultBinder"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """POST the Binding; an API error becomes an error status."""
        client = self.handle.client
        if client is None:
            return error("no API client to bind with")
        try:
            await client.lean_request("POST", PODS.path(pod.namespace, pod.name, "binding"),
                                      body=binding_body(pod, node_name))
        except ApiError as exc:
            return error(exc.message or f"binding failed with HTTP {exc.code}")
        return None
