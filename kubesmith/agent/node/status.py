"""The Node the agent registers and the status fields it owns, as pure functions (the I/O
is in :mod:`kubesmith.agent.node.registration`)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubesmith.agent.node.nodeobjects import CONTROLLER_MANAGED_ATTACH_DETACH
from kubesmith.api.types import Obj

#: Upstream's nodeStatusMaxImages and maxNamesPerImageInNodeStatus.
MAX_IMAGES = 50
MAX_NAMES_PER_IMAGE = 5

#: Labels the kubelet keeps current on an existing Node it adopts (its other labels, those
#: of ``--node-labels`` included, are only given at registration).
DEFAULT_LABEL_KEYS: tuple[str, ...] = (
    "kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type",
    "kubernetes.io/os", "kubernetes.io/arch", "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
)


def new_node(name: str, labels: Mapping[str, str], taints: Sequence[Obj]) -> Obj:
    """The Node to register (status is added by the caller)."""
    node: Obj = {"apiVersion": "v1", "kind": "Node",
                 "metadata": {"name": name, "labels": dict(labels),
                              "annotations": {CONTROLLER_MANAGED_ATTACH_DETACH: "true"}},
                 "spec": {}}
    if taints:
        node["spec"]["taints"] = copy.deepcopy(list(taints))
    return node


def adoption_patch(existing: Obj, wanted: Obj) -> Obj | None:
    """The metadata patch bringing an existing Node of our name in line, as the kubelet
    reconciles one it did not create: its default labels (only those we have a value for)
    and the controller-managed attach/detach annotation. None when nothing differs."""
    meta = existing.get("metadata") or {}
    have_labels = meta.get("labels") or {}
    want_labels = (wanted.get("metadata") or {}).get("labels") or {}
    labels = {k: want_labels[k] for k in DEFAULT_LABEL_KEYS
              if want_labels.get(k) and have_labels.get(k) != want_labels[k]}
    patch: dict[str, Any] = {}
    if labels:
        patch["labels"] = labels
    if (meta.get("annotations") or {}).get(CONTROLLER_MANAGED_ATTACH_DETACH) != "true":
        patch["annotations"] = {CONTROLLER_MANAGED_ATTACH_DETACH: "true"}
    return {"metadata": patch} if patch else None


def node_images(images: Iterable[tuple[Sequence[str], int]]) -> list[Obj]:
    """``status.images``: the 50 largest images, each with at most 5 names (give repo
    digests before tags, as the kubelet lists them)."""
    ranked = sorted(((list(names), int(size)) for names, size in images if names),
                    key=lambda item: -item[1])
    return [{"names": names[:MAX_NAMES_PER_IMAGE], "sizeBytes": size}
            for names, size in ranked[:MAX_IMAGES]]
