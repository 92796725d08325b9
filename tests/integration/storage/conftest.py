"""Fixtures for the storage contract suite: one ``store`` per backend.

The etcd backend runs against a real 3-member cluster on loopback, started once per session
(starting it costs about a second) and killed at the end, also when tests fail. Tests share
it, so each test works under its own key ``prefix`` and asserts revisions relative to what it
reads first; tests run one at a time, so nobody else writes in between.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubesmith.storage.etcd import EtcdStore
from kubesmith.storage.etcd_launcher import LocalEtcdCluster
from kubesmith.storage.interface import Store
from kubesmith.storage.sqlite import SqliteStore


@pytest.fixture(scope="session")
def etcd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEtcdCluster]:
    """A 3-member etcd cluster for the whole session."""
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed (scripts/install-deps.sh installs etcd-server)")
    cluster = LocalEtcdCluster(tmp_path_factory.mktemp("etcd"), size=3)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, object]:
    """Which backend a contract test runs on, and what opening it needs."""
    if request.param == "etcd":
        return "etcd", request.getfixturevalue("etcd_cluster")
    return "sqlite", tmp_path / "state" / "state.db"


@pytest.fixture
async def store(backend: tuple[str, object]) -> AsyncIterator[Store]:
    """A fresh store (SQLite) or a new client of the shared cluster (etcd)."""
    kind, target = backend
    opened: Store
    if kind == "etcd":
        assert isinstance(target, LocalEtcdCluster)
        opened = await EtcdStore.open(target.endpoints, request_timeout=5.0)
    else:
        assert isinstance(target, Path)
        opened = await SqliteStore.open(str(target))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"/registry/t{uuid.uuid4().hex[:10]}/"
