"""The controller manager: every controller in one process, sharing informers, each with its
own ServiceAccount identity, behind leader election so several replicas are safe.

Runs inside ``kubesmith server`` by default (k3s-style) and on its own as
``kubesmith controller-manager --kubeconfig ...``. A controller that crashes is logged and
restarted with backoff; it never takes the others down.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubesmith.client import Client
from kubesmith.client.events import EventRecorder
from kubesmith.client.factory import InformerFactory
from kubesmith.client.leaderelection import LeaderElector
from kubesmith.client.supervise import run_restarting
from kubesmith.controllers.base import Controller, ControllerContext, ControllerOptions
from kubesmith.controllers.credentials import ServiceAccountCredentials

log = logging.getLogger(__name__)

#: Every controller by its upstream name (``--controllers`` accepts these, ``*`` for all and
#: ``-name`` to disable one); the class is imported only when enabled.
CONTROLLERS: dict[str, str] = {
    "cronjob-controller": "kubesmith.controllers.cronjob:CronJobController",
    "daemonset-controller": "kubesmith.controllers.daemonset:DaemonSetController",
    "deployment-controller": "kubesmith.controllers.deployment:DeploymentController",
    "disruption-controller": "kubesmith.controllers.disruption:DisruptionController",
    "endpoints-controller": "kubesmith.controllers.endpoints:EndpointsController",
    "endpointslice-controller": "kubesmith.controllers.endpointslice:EndpointSliceController",
    "garbage-collector-controller":
        "kubesmith.controllers.garbagecollector:GarbageCollector",
    "horizontal-pod-autoscaler-controller":
        "kubesmith.controllers.hpa:HorizontalPodAutoscalerController",
    "job-controller": "kubesmith.controllers.job:JobController",
    "namespace-controller": "kubesmith.controllers.namespace:NamespaceController",
    "node-ipam-controller": "kubesmith.controllers.nodeipam:NodeIpamController",
    "node-lifecycle-controller": "kubesmith.controllers.nodelifecycle:NodeLifecycleController",
    "persistentvolume-binder-controller":
        "kubesmith.controllers.volume.binder:PersistentVolumeController",
    "pod-garbage-collector-controller": "kubesmith.controllers.podgc:PodGCController",
    "replicaset-controller": "kubesmith.controllers.replicaset:ReplicaSetController",
    "replicationcontroller-controller": "kubesmith.controllers.replicaset:ReplicationManager",
    "root-ca-certificate-publisher-controller":
        "kubesmith.controllers.rootca:RootCACertPublisher",
    "serviceaccount-controller": "kubesmith.controllers.serviceaccounts:ServiceAccountsController",
    "statefulset-controller": "kubesmith.controllers.statefulset:StatefulSetController",
    "ttl-after-finished-controller":
        "kubesmith.controllers.ttl_after_finished:TTLAfterFinishedController",
}

#: Controllers upstream leaves off unless named (none of ours yet).
DISABLED_BY_DEFAULT: frozenset[str] = frozenset()


class UnknownControllerError(ValueError):
    """``--controllers`` named something that does not exist."""


def _canonical(name: str) -> str:
    if name in CONTROLLERS:
        return name
    if f"{name}-controller" in CONTROLLERS:
        return f"{name}-controller"
    raise UnknownControllerError(
        f"unknown controller {name!r}; known: {', '.join(sorted(CONTROLLERS))}")


def enabled_controllers(spec: Sequence[str]) -> list[str]:
    """Resolve ``--controllers`` (``*``, ``name``, ``-name``) to the controllers to run."""
    chosen: set[str] = set()
    disabled: set[str] = set()
    for item in spec:
        item = item.strip()
        if not item:
            continue
        if item == "*":
            chosen |= set(CONTROLLERS) - DISABLED_BY_DEFAULT
        elif item.startswith("-"):
            disabled.add(_canonical(item[1:]))
        else:
            chosen.add(_canonical(item))
    return sorted(chosen - disabled)


def load_controller(name: str) -> type[Controller]:
    """Import the class registered for ``name``."""
    module, _, attr = CONTROLLERS[name].partition(":")
    cls: type[Controller] = getattr(importlib.import_module(module), attr)
    return cls


@dataclass
class ManagerConfig:
    kubeconfig: str
    controllers: Sequence[str] = ("*",)
    options: ControllerOptions = field(default_factory=ControllerOptions)
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    #: PEM of the cluster CA, published as ``kube-root-ca.crt`` (read from the kubeconfig
    #: when empty).
    ca_pem: bytes = b""
    #: The ServiceAccount signing key (PEM file). When set, the tokens controller fills in
    #: legacy ``kubernetes.io/service-account-token`` Secrets (upstream's
    #: ``--service-account-private-key-file``); the API server accepts such tokens only
    #: with ``--service-account-legacy-tokens``.
    service_account_private_key_file: str = ""


class ControllerManager:
    """Runs the enabled controllers until cancelled (see the module docstring)."""

    def __init__(self, config: ManagerConfig) -> None:
        self.config = config
        self.identity = f"{socket.gethostname()}_{uuid.uuid4()}"
        self.names = enabled_controllers(config.controllers)

    async def run(self) -> None:
        root = Client.from_kubeconfig(self.config.kubeconfig,
                                      user_agent="kube-controller-manager")
        try:
            if self.config.leader_elect:
                elector = LeaderElector(
                    root, name="kube-controller-manager", identity=self.identity,
                    lease_duration=self.config.lease_duration,
                    renew_deadline=self.config.renew_deadline,
                    retry_period=self.config.retry_period)
                await elector.run(lambda: self._run_controllers(root))
            else:
                await self._run_controllers(root)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(root.close())

    async def _run_controllers(self, root: Client) -> None:
        informers = InformerFactory(root)
        credentials = ServiceAccountCredentials(root)
        ca_pem = self.config.ca_pem or (root.config.ca_pem or "").encode()
        host = os.environ.get("HOSTNAME") or socket.gethostname()
        controllers: list[Controller] = []
        recorders: list[EventRecorder] = []
        try:
            for name in self.names:
                cls = load_controller(name)
                client = await credentials.client_for(cls.name)
                recorder = EventRecorder(client, cls.component or cls.name, host)
                recorders.append(recorder)
                controllers.append(cls(ControllerContext(
                    client, informers, recorder, self.config.options, ca_pem)))
            runners: list[Any] = [*controllers]
            if self.config.service_account_private_key_file:
                # Signing needs the key, not a role: it acts as the manager itself, as
                # upstream's tokens controller does.
                from kubesmith.controllers.serviceaccount_tokens import (
                    ServiceAccountTokensController,
                )

                key = await asyncio.to_thread(
                    Path(self.config.service_account_private_key_file).read_bytes)
                runners.append(ServiceAccountTokensController(root, key, ca_pem,
                                                              informers=informers))
            informers.start()
            log.info("controller manager %s: running %s", self.identity,
                     ", ".join(self.names))
            async with asyncio.TaskGroup() as group:
                for runner in runners:
                    group.create_task(_supervise(runner), name=f"controller-{runner.name}")
        finally:
            await informers.stop()
            for recorder in recorders:
                await recorder.close()
            await credentials.close()


async def _supervise(controller: Any) -> None:
    def fresh_queue() -> None:
        # The old queue was shut down by the failed run's finally.
        controller.queue = type(controller.queue)()

    await run_restarting(f"controller {controller.name}", controller.run,
                         before_restart=fresh_queue)


async def run_controller_manager(config: ManagerConfig) -> None:
    """Run until cancelled."""
    await ControllerManager(config).run()
