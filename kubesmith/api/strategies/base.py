"""The strategy every resource plugs into the generic store (upstream's REST strategies).

A strategy owns what differs between kinds: defaulting, what create and update may change
(status is written only through the status subresource; spec changes bump
``metadata.generation``), validation and the field labels selectors may use. The generic
store (:mod:`kubesmith.api.store`) owns everything else.
"""

from __future__ import annotations

from collections.abc import Callable

from kubesmith.api import defaults, schema, selectors, tables, typecheck, validation
from kubesmith.api.errors import FieldError
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.types import Obj

# Metadata a status write may not change (upstream's ResetObjectMetaForStatus).
_STATUS_RESET_META = ("deletionTimestamp", "generation", "labels", "annotations",
                      "finalizers", "ownerReferences")
# Upstream's status strategies for these kinds only put the spec back: metadata written
# with the status sticks (the deployment controller sets its revision annotation that way).
# The Deployment's also keeps its labels.
_STATUS_SPEC_ONLY = ("deletionTimestamp", "generation")
_STATUS_RESET_META_BY_KIND: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): (*_STATUS_SPEC_ONLY, "labels"),
    ("apps", "ReplicaSet"): _STATUS_SPEC_ONLY,
    ("apps", "DaemonSet"): _STATUS_SPEC_ONLY,
    ("apps", "StatefulSet"): _STATUS_SPEC_ONLY,
    ("", "ReplicationController"): _STATUS_SPEC_ONLY,
    ("batch", "Job"): _STATUS_SPEC_ONLY,
    ("batch", "CronJob"): _STATUS_SPEC_ONLY,
    ("autoscaling", "HorizontalPodAutoscaler"): _STATUS_SPEC_ONLY,
    ("policy", "PodDisruptionBudget"): _STATUS_SPEC_ONLY,
}


# Kinds whose dependents a DELETE without propagationPolicy orphans (upstream's
# DefaultGarbageCollectionPolicy for the versions served here); the rest cascade in the
# background.
_ORPHAN_BY_DEFAULT = frozenset({("", "ReplicationController"), ("batch", "Job")})


class Strategy:
    """Default behaviour: generation tracking for kinds with a spec, status through its
    subresource only, no extra validation beyond ObjectMeta."""

    def __init__(self, rt: ResourceType,
                 node_port_range: tuple[int, int] = validation.DEFAULT_NODE_PORT_RANGE
                 ) -> None:
        self.rt = rt
        self.has_status = "status" in rt.subresources
        self._defaulter = defaults.defaulter_for(rt.group, rt.version, rt.kind)
        # managedFields write hooks by field manager (kubesmith.apiserver.patching).
        self.field_trackers: dict[str, Callable[[Obj | None, Obj, str], None]] = {}
        self.validator = validation.validator_for(
            rt.group, rt.kind, node_port_range=node_port_range) or \
            validation.generic_validator(rt.group, rt.kind, namespaced=rt.namespaced)

    # ---- hooks a resource module overrides --------------------------------------------
    def default(self, obj: Obj) -> None:
        """Upstream's SetDefaults for the kind (in place)."""
        if self._defaulter is not None:
            self._defaulter(obj)

    @property
    def default_propagation(self) -> str | None:
        """The propagation policy of a DELETE that names none (None: Background)."""
        return "Orphan" if (self.rt.group, self.rt.kind) in _ORPHAN_BY_DEFAULT else None

    def prepare_for_create(self, obj: Obj) -> None:
        """Reset what a client may not set on create."""
        if self.has_status:
            obj.pop("status", None)
            self.initial_status(obj)
        if "spec" in obj or self.has_status:
            obj["metadata"]["generation"] = 1

    def initial_status(self, obj: Obj) -> None:
        """The status a new object starts with (none by default)."""

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """Keep the old status, bump generation when the spec changed."""
        if self.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        old_gen = old.get("metadata", {}).get("generation")
        if old_gen is not None:
            if self.spec_changed(new, old):
                new["metadata"]["generation"] = int(old_gen) + 1
            else:
                new["metadata"]["generation"] = old_gen

    def spec_changed(self, new: Obj, old: Obj) -> bool:
        if "spec" in new or "spec" in old:
            return bool(new.get("spec") != old.get("spec"))
        # Kinds without a spec (ConfigMap-like) do not track generation by content.
        return False

    def prepare_for_status_update(self, new: Obj, old: Obj) -> None:
        """A status write changes only ``status`` (and managedFields)."""
        for key in list(new):
            if key not in ("status", "metadata", "apiVersion", "kind"):
                if key in old:
                    new[key] = old[key]
                else:
                    del new[key]
        for key, value in old.items():
            if key not in new and key not in ("status",):
                new[key] = value
        new_meta = new["metadata"]
        old_meta = old.get("metadata", {})
        for f in _STATUS_RESET_META_BY_KIND.get((self.rt.group, self.rt.kind),
                                                _STATUS_RESET_META):
            if f in old_meta:
                new_meta[f] = old_meta[f]
            else:
                new_meta.pop(f, None)

    def prepare_for_subresource(self, subresource: str, new: Obj, old: Obj) -> None:
        """Dispatch an update to the preparation its subresource needs."""
        if subresource == "status":
            self.prepare_for_status_update(new, old)
        elif subresource == "finalize":
            self.prepare_for_finalize(new, old)
        elif subresource == "binding":
            # Only the server's own binding transform changed the object.
            return
        else:
            self.prepare_for_update(new, old)

    def prepare_for_finalize(self, new: Obj, old: Obj) -> None:
        self.prepare_for_update(new, old)

    def validate(self, obj: Obj) -> list[FieldError]:
        """Errors for creating ``obj``."""
        return self.validator.validate(obj)

    # ---- schema ------------------------------------------------------------------------
    supports_strategic_merge = True

    def schema_node(self, kind: str | None = None) -> schema.SchemaNode | None:
        """The OpenAPI schema of the kind (patching, apply, unknown-field checks)."""
        return schema.root(self.rt.group, self.rt.version, kind or self.rt.kind)

    def decode_error(self, obj: Obj) -> str | None:
        """Go's decoding error for a value of the wrong JSON type in ``obj``, or None."""
        node = self.schema_node(obj.get("kind") if isinstance(obj.get("kind"), str)
                                else None)
        return typecheck.first_type_error(obj, node) if node is not None else None

    def table_printer(self) -> tables.TablePrinter:
        """How ``kubectl get`` shows the kind (server-side Table)."""
        return tables.table_for(self.rt.group, self.rt.version, self.rt.kind)

    def prune(self, obj: Obj) -> list[str]:
        """Drop fields the schema does not know; return their paths."""
        node = self.schema_node(obj.get("kind") if isinstance(obj.get("kind"), str)
                                else None)
        return schema.prune_unknown(obj, node) if node is not None else []

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        """Errors for replacing ``old`` with ``new`` — complete on its own (includes the
        create rules for ``new``), as upstream's ValidateXUpdate."""
        return self.validator.validate_update(new, old)

    def validate_subresource_update(self, subresource: str, new: Obj, old: Obj
                                    ) -> list[FieldError]:
        if subresource == "status":
            return self.validator.validate_status_update(new, old)
        if subresource == "binding":
            # Binding sets spec.nodeName exactly once, a change pod update validation
            # (rightly) forbids to everyone else.
            return []
        return self.validate_update(new, old)

    def fields_of(self, obj: Obj) -> dict[str, str]:
        """Field-selector labels and their values for ``obj``."""
        return selectors.field_set(self.rt.group, self.rt.kind, obj)

    # Graceful deletion (only pods use it).
    def delete_grace_period(self, obj: Obj, requested: int | None) -> int:
        """Seconds the object stays (with deletionTimestamp set) before it is removed;
        0 deletes at once."""
        return 0

    def begin_delete(self, obj: Obj) -> bool:
        """Mark ``obj`` as being deleted (in place); True keeps it until finalized even
        without metadata finalizers (namespaces wait for their spec finalizers)."""
        return False

    def ready_to_finalize(self, obj: Obj) -> bool:
        """Whether a deleted object with no metadata finalizers left may go away now."""
        return True
