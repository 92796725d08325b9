"""Builders shared by the pod workers' unit tests."""

from __future__ import annotations

from typing import Any

from kubesmith.agent.pods.runs import EXITED, RUNNING, ContainerRun

Obj = dict[str, Any]
T0 = 1_800_000_000.0


def make_pod(*containers: Obj, init: tuple[Obj, ...] = (), status: Obj | None = None,
             **spec: Any) -> Obj:
    """A pod named web in namespace shop (uid u-1) with app containers ``containers``."""
    obj: Obj = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "generation": 1,
                     "resourceVersion": "10"},
        "spec": {"nodeName": "node-a", "restartPolicy": "Always",
                 "containers": list(containers) or [{"name": "app", "image": "busybox"}],
                 **spec},
        "status": status if status is not None else {"phase": "Pending",
                                                     "qosClass": "BestEffort"}}
    if init:
        obj["spec"]["initContainers"] = list(init)
    return obj


def running(name: str, attempt: int = 0, *, started: float = T0, cid: str = "") -> ContainerRun:
    return ContainerRun(id=cid or f"{name}-{attempt}", name=name, attempt=attempt,
                        state=RUNNING, created_at=started, started_at=started,
                        image="docker.io/library/busybox:latest",
                        image_id="docker.io/library/busybox@sha256:abc")


def exited(name: str, code: int = 0, attempt: int = 0, *, started: float = T0,
           finished: float = T0 + 5, reason: str = "", message: str = "",
           cid: str = "") -> ContainerRun:
    return ContainerRun(id=cid or f"{name}-{attempt}", name=name, attempt=attempt,
                        state=EXITED, created_at=started, started_at=started,
                        finished_at=finished, exit_code=code,
                        reason=reason or ("Completed" if code == 0 else "Error"),
                        message=message, image="docker.io/library/busybox:latest",
                        image_id="docker.io/library/busybox@sha256:abc")
