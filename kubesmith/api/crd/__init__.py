"""CustomResourceDefinitions and custom resources, as pure functions over decoded JSON.

Two halves, both wording their errors exactly as kube-apiserver v1.37 does:

* :mod:`kubesmith.api.crd.validation` — the CRD object itself (``apiextensions.k8s.io/v1``):
  defaulting, create/update preparation and validation, structural-schema rules included.
* :mod:`kubesmith.api.crd.custom_resources` — a custom resource against its version's
  ``openAPIV3Schema``: pruning unknown fields, applying defaults, value validation, and the
  scale subresource paths.

Everything here is synchronous and side-effect free apart from the documented in-place
edits; the API layer's strategies call it on the write path. ``x-kubernetes-validations``
(CEL) rules are not evaluated (see :mod:`~kubesmith.api.crd.custom_resources`).
"""

from __future__ import annotations

from kubesmith.api.crd.custom_resources import (
    default,
    get_path,
    prune,
    scale_paths,
    set_path,
    validate,
    validate_list_sets_and_maps,
    validate_scale,
    validate_scale_status,
)
from kubesmith.api.crd.validation import (
    default_crd,
    prepare_crd_for_create,
    prepare_crd_for_update,
    validate_crd,
    validate_crd_status_update,
    validate_crd_update,
)

__all__ = [
    "default",
    "default_crd",
    "get_path",
    "prepare_crd_for_create",
    "prepare_crd_for_update",
    "prune",
    "scale_paths",
    "set_path",
    "validate",
    "validate_crd",
    "validate_crd_status_update",
    "validate_crd_update",
    "validate_list_sets_and_maps",
    "validate_scale",
    "validate_scale_status",
]
