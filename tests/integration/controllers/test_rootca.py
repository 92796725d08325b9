"""The root CA publisher against a real API server: every namespace gets the ConfigMap
``kube-root-ca.crt`` with the cluster CA, put back after a deletion and corrected after an
edit, with RBAC limiting the publisher to its bootstrap role."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesmith.client import Client
from kubesmith.client.rest import CONFIGMAPS
from kubesmith.controllers.rootca import DESCRIPTION
from tests.conftest import RunningServer
from tests.integration.controllers.conftest import running_registered
from tests.integration.controllers.helpers import drop_namespace, make_namespace, until

pytestmark = pytest.mark.integration

PUBLISHER = "root-ca-certificate-publisher-controller"
NAME = "kube-root-ca.crt"


@pytest.fixture
async def publisher(server: RunningServer,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    async with running_registered(server, monkeypatch, PUBLISHER,
                                  "kubesmith.controllers.rootca:RootCACertPublisher"):
        yield


async def published(admin: Client, namespace: str, ca: str) -> dict[str, Any] | None:
    """The ConfigMap in ``namespace`` once it holds ``ca`` (None until then)."""
    cm = await admin.get(CONFIGMAPS, NAME, namespace)
    return cm if cm.get("data") == {"ca.crt": ca} else None


async def test_every_namespace_gets_the_root_ca(server: RunningServer, admin: Client,
                                               publisher: None) -> None:
    ca = (server.data_dir / "pki" / "ca.crt").read_text()
    for existing in ("default", "kube-system", "kube-public", "kube-node-lease"):
        await until(functools.partial(published, admin, existing, ca),
                         f"{NAME} in {existing}")

    name = f"rootca-{uuid.uuid4().hex[:8]}"
    await make_namespace(admin, name)
    try:
        first = await until(lambda: published(admin, name, ca), f"{NAME} in {name}")
        assert first["metadata"]["annotations"]["kubernetes.io/description"] == DESCRIPTION

        # deleted: recreated
        await admin.delete(CONFIGMAPS, NAME, name)

        async def recreated() -> dict[str, Any] | None:
            cm = await published(admin, name, ca)
            return cm if cm and cm["metadata"]["uid"] != first["metadata"]["uid"] else None

        again = await until(recreated, f"{NAME} to be recreated")

        # edited: corrected
        await admin.patch(CONFIGMAPS, NAME, {"data": {"ca.crt": "bogus", "extra": "x"},
                                             "metadata": {"annotations": None}}, name)

        async def corrected() -> dict[str, Any] | None:
            cm = await published(admin, name, ca)
            return cm if cm and (cm["metadata"].get("annotations") or {}).get(
                "kubernetes.io/description") == DESCRIPTION else None

        fixed = await until(corrected, f"{NAME} to be corrected")
        assert fixed["metadata"]["uid"] == again["metadata"]["uid"]
    finally:
        await drop_namespace(admin, name)
