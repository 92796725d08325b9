"""Whether a container that exited is started again, by the pod's ``restartPolicy`` or the
container's own (sidecars: ``Always``; regular containers may set one, with
``restartPolicyRules`` on exit codes checked first — upstream ``ContainerShouldRestart``).
A failed regular init container follows the same rule: retried unless the policy is
``Never``, when the pod fails."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubesmith.api.types import Obj


def _rule_matches(exit_codes: Mapping[str, Any], exit_code: int) -> bool:
    values = {int(v) for v in exit_codes.get("values") or ()}
    if exit_codes.get("operator") == "NotIn":
        return exit_code not in values
    return exit_code in values


def _by_policy(policy: str, exit_code: int) -> bool:
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def container_should_restart(container: Obj, pod_spec: Obj, exit_code: int) -> bool:
    """Whether ``container`` is restarted after exiting with ``exit_code``."""
    own = container.get("restartPolicy")
    if not own:
        return _by_policy(str(pod_spec.get("restartPolicy") or "Always"), exit_code)
    for rule in container.get("restartPolicyRules") or ():
        codes = rule.get("exitCodes")
        if isinstance(codes, Mapping) and _rule_matches(codes, exit_code):
            return bool(rule.get("action") == "Restart")
    return _by_policy(str(own), exit_code)

