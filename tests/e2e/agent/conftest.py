"""Fixtures for the node agent's end-to-end tests: one single-node cluster (real server,
real agent, real runc/conmon/CNI) shared by every test in this directory, and a fresh
namespace per test. See :mod:`tests.e2e.agent.cluster`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.conftest import namespace_manifest, namespace_name
from tests.e2e.agent.cluster import AgentCluster, bring_up
from tests.support.registry import loopback_registry  # noqa: F401

NEEDED = ("runc", "conmon", "iptables-save", "ip")


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentCluster]:
    if os.geteuid() != 0:
        pytest.skip("the node agent needs root")
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (scripts/install-deps.sh installs them)")
    yield from bring_up(tmp_path_factory.mktemp("agent-node"))


@pytest.fixture
def ns(cluster: AgentCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace for the test; deleted afterwards without waiting (the node teardown
    removes whatever is still running)."""
    name = namespace_name(request.node.name)
    cluster.kubectl("create", "-f", "-", input=namespace_manifest(name))
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
