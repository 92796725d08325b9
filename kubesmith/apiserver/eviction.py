"""The ``pods/eviction`` subresource with PodDisruptionBudgets, as upstream's eviction REST:
an eviction that would take a budget below its minimum is refused with 429 (the client —
``kubectl drain`` — retries), an allowed one is charged to the budget
(``disruptionsAllowed - 1`` and the pod in ``disruptedPods``, compare-and-swap) before the pod
is deleted, so concurrent evictions cannot together overdraw it.

Pods that are not running anything a budget protects (finished, pending, already being
deleted) are evicted without consulting budgets. An unready pod under the default
``IfHealthyBudget`` policy may be evicted only while the budget is healthy; ``AlwaysAllow``
lets unready pods go regardless.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubesmith.api import errors
from kubesmith.api.errors import StatusError
from kubesmith.api.selectors import label_selector_from_object
from kubesmith.api.store import WriteOptions
from kubesmith.api.types import Obj

DISRUPTION_REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


def _refused(cause: str, retry: bool = True) -> StatusError:
    err = errors.too_many_requests(DISRUPTION_REFUSED, 10) if retry else \
        errors.forbidden_operation("pods", "", cause)
    if retry:
        err.details = {**(err.details or {}),
                       "causes": [{"reason": "DisruptionBudget", "message": cause}]}
    return err


def _is_ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def ignores_budgets(pod: Obj) -> bool:
    """Finished, pending and terminating pods are evicted without budget checks."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or \
        bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def budgets_for(pod: Obj, budgets: list[Obj]) -> list[Obj]:
    """The PodDisruptionBudgets of the pod's namespace selecting it."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    found = []
    for pdb in budgets:
        selector = (pdb.get("spec") or {}).get("selector")
        if selector is None:
            continue
        if label_selector_from_object(selector).matches(labels):
            found.append(pdb)
    return found


def charge(pdb: Obj, pod: Obj, now: str) -> Obj:
    """``pdb`` with the eviction of ``pod`` charged, or raise the refusal (upstream's
    checks, in its order)."""
    meta = pdb.get("metadata") or {}
    status: dict[str, Any] = pdb.setdefault("status", {})
    name = meta.get("name", "")
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        raise _refused(f"The disruption budget {name} is still being processed by the "
                       "server.")
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise _refused("pdb disruptions allowed is negative", retry=False)
    disrupted = status.setdefault("disruptedPods", {})
    if len(disrupted) > 2000:
        raise _refused("DisruptedPods map too big - too many evictions not confirmed by "
                       "PDB controller", retry=False)
    if allowed == 0:
        raise _refused(f"The disruption budget {name} needs "
                       f"{int(status.get('desiredHealthy') or 0)} healthy pods and has "
                       f"{int(status.get('currentHealthy') or 0)} currently")
    status["disruptionsAllowed"] = allowed - 1
    disrupted[(pod.get("metadata") or {}).get("name", "")] = now
    return pdb


async def admit_eviction(resources: Any, pod: Obj, dry_run: bool) -> None:
    """Check (and unless ``dry_run`` charge) the budget covering ``pod``; raise the
    refusal when the eviction would violate it."""
    if ignores_budgets(pod):
        return
    store = resources.for_kind("policy", "PodDisruptionBudget")
    if store is None:
        return
    namespace = (pod.get("metadata") or {}).get("namespace")
    await store.cache.wait_consistent()
    pdbs = budgets_for(pod, [c.obj for c in store.cache.iter_from(namespace)])
    if not pdbs:
        return
    if len(pdbs) > 1:
        raise errors.internal_error("This pod has more than one PodDisruptionBudget, which "
                                    "the eviction subresource does not support.")
    pdb = pdbs[0]
    if not _is_ready(pod):
        policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") or \
            "IfHealthyBudget"
        status = pdb.get("status") or {}
        if policy == "AlwaysAllow" or \
                int(status.get("currentHealthy") or 0) >= int(status.get("desiredHealthy")
                                                              or 0):
            return
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if dry_run:
        charge(dict(pdb, status=dict(pdb.get("status") or {})), pod, now)
        return
    await store.update(namespace, pdb["metadata"]["name"],
                       lambda current: charge(_require(current), pod, now),
                       WriteOptions(subresource="status"))


def _require(obj: Obj | None) -> Obj:
    if obj is None:
        raise errors.too_many_requests(DISRUPTION_REFUSED, 1)
    return obj
