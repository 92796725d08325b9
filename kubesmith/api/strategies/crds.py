"""CustomResourceDefinitions: validated as upstream, and held by a cleanup finalizer so
their custom resources are deleted before the definition goes."""

from __future__ import annotations

from kubesmith.api.crd import validation as crd_validation
from kubesmith.api.errors import FieldError
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


class CustomResourceDefinitionStrategy(Strategy):
    def default(self, obj: Obj) -> None:
        crd_validation.default_crd(obj)

    def prepare_for_create(self, obj: Obj) -> None:
        crd_validation.prepare_crd_for_create(obj)
        finalizers = obj["metadata"].setdefault("finalizers", [])
        if CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CLEANUP_FINALIZER)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        crd_validation.prepare_crd_for_update(new, old)

    def validate(self, obj: Obj) -> list[FieldError]:
        return crd_validation.validate_crd(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return crd_validation.validate_crd_update(new, old)

    def validate_subresource_update(self, subresource: str, new: Obj, old: Obj
                                    ) -> list[FieldError]:
        if subresource == "status":
            return crd_validation.validate_crd_status_update(new, old)
        return self.validate_update(new, old)
