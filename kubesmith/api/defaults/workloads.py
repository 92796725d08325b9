"""Defaults for ``apps/v1`` and ``batch/v1`` (``pkg/apis/{apps,batch}/v1/defaults.go``).

Workload pod templates get the template defaults only (``SetDefaults_PodSpec`` and the
per-field ones), never the Pod-only ones, exactly as upstream: a Deployment's template has
no ``enableServiceLinks`` and requests are not copied from limits.
"""

from __future__ import annotations

from kubesmith.api.defaults._util import Obj, child, children, default_ptr, default_str
from kubesmith.api.defaults.core import default_pod_template, default_pvc_spec

MAX_INT32 = 2**31 - 1


def _spec(obj: Obj) -> Obj | None:
    return child(obj, "spec", create=True)


def _default_rolling_update(spec: Obj, key: str, max_unavailable: int | str,
                            max_surge: int | str) -> None:
    """``spec[key]`` defaults to a RollingUpdate strategy; a RollingUpdate one gets these
    maxUnavailable and maxSurge defaults (Deployments and DaemonSets)."""
    strategy = child(spec, key, create=True)
    if strategy is not None:
        default_str(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            rolling = child(strategy, "rollingUpdate", create=True)
            if rolling is not None:
                default_ptr(rolling, "maxUnavailable", max_unavailable)
                default_ptr(rolling, "maxSurge", max_surge)


def default_deployment(obj: Obj) -> None:
    """Replicas 1, RollingUpdate 25%/25%, history 10, progress deadline 600s."""
    spec = _spec(obj)
    if spec is None:
        return
    default_ptr(spec, "replicas", 1)
    _default_rolling_update(spec, "strategy", "25%", "25%")
    default_ptr(spec, "revisionHistoryLimit", 10)
    default_ptr(spec, "progressDeadlineSeconds", 600)
    default_pod_template(spec.get("template"))


def default_daemon_set(obj: Obj) -> None:
    """RollingUpdate with maxUnavailable 1 and maxSurge 0, history 10."""
    spec = _spec(obj)
    if spec is None:
        return
    _default_rolling_update(spec, "updateStrategy", 1, 0)
    default_ptr(spec, "revisionHistoryLimit", 10)
    default_pod_template(spec.get("template"))


def default_stateful_set(obj: Obj) -> None:
    """OrderedReady, RollingUpdate partition 0, Retain/Retain PVCs, 1 replica, history 10."""
    spec = _spec(obj)
    if spec is None:
        return
    default_str(spec, "podManagementPolicy", "OrderedReady")
    strategy = child(spec, "updateStrategy", create=True)
    if strategy is not None:
        if strategy.get("type") in (None, ""):
            strategy["type"] = "RollingUpdate"
            # Only a strategy we filled in ourselves gets an empty rollingUpdate block.
            child(strategy, "rollingUpdate", create=True)
        rolling = child(strategy, "rollingUpdate")
        if strategy.get("type") == "RollingUpdate" and rolling is not None:
            default_ptr(rolling, "partition", 0)
    retention = child(spec, "persistentVolumeClaimRetentionPolicy", create=True)
    if retention is not None:
        default_str(retention, "whenDeleted", "Retain")
        default_str(retention, "whenScaled", "Retain")
    default_ptr(spec, "replicas", 1)
    default_ptr(spec, "revisionHistoryLimit", 10)
    default_pod_template(spec.get("template"))
    for claim in children(spec, "volumeClaimTemplates"):
        status = child(claim, "status", create=True)
        if status is not None:
            default_str(status, "phase", "Pending")
        claim_spec = child(claim, "spec", create=True)
        if claim_spec is not None:
            default_pvc_spec(claim_spec)


def default_replica_set(obj: Obj) -> None:
    """Replicas 1."""
    spec = _spec(obj)
    if spec is None:
        return
    default_ptr(spec, "replicas", 1)
    default_pod_template(spec.get("template"))


def _default_pod_failure_policy(spec: Obj) -> None:
    policy = child(spec, "podFailurePolicy")
    if policy is None:
        return
    for rule in children(policy, "rules"):
        for pattern in children(rule, "onPodConditions"):
            default_str(pattern, "status", "True")


def default_job_spec_template_only(spec: Obj) -> None:
    """What a CronJob's ``jobTemplate.spec`` gets: pod template and failure-policy defaults."""
    _default_pod_failure_policy(spec)
    default_pod_template(spec.get("template"))


def default_job(obj: Obj) -> None:
    """``SetDefaults_Job``: completions/parallelism, backoffLimit, modes and flags."""
    spec = _spec(obj)
    if spec is None:
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    default_ptr(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    template = child(spec, "template")
    labels = (child(template, "metadata") or {}).get("labels") if template is not None else None
    metadata = child(obj, "metadata", create=True)
    if isinstance(labels, dict) and metadata is not None and not metadata.get("labels"):
        metadata["labels"] = dict(labels)
    default_ptr(spec, "completionMode", "NonIndexed")
    default_ptr(spec, "suspend", False)
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = ("Failed" if spec.get("podFailurePolicy") is not None
                                        else "TerminatingOrFailed")
    default_ptr(spec, "manualSelector", False)
    default_job_spec_template_only(spec)


def default_cron_job(obj: Obj) -> None:
    """``SetDefaults_CronJob`` (the job template is *not* given Job defaults)."""
    spec = _spec(obj)
    if spec is None:
        return
    default_str(spec, "concurrencyPolicy", "Allow")
    default_ptr(spec, "suspend", False)
    default_ptr(spec, "successfulJobsHistoryLimit", 3)
    default_ptr(spec, "failedJobsHistoryLimit", 1)
    job_template = child(spec, "jobTemplate")
    if job_template is not None and (job_spec := child(job_template, "spec")) is not None:
        default_job_spec_template_only(job_spec)


LEGACY_JOB_NAME_LABEL = "job-name"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"


def generate_job_selector(job: Obj) -> None:
    """The Job strategy's ``generateSelector`` (create only, once ``metadata.uid`` is set).

    Unless ``spec.manualSelector`` is true, the pod template gets ``job-name`` and
    ``controller-uid`` labels (legacy and ``batch.kubernetes.io/`` forms) and the selector
    matches the uid. Labels the user already set are left alone; a conflicting value then
    fails validation, as upstream intends.
    """
    spec = _spec(job)
    if spec is None or spec.get("manualSelector") is True:
        return
    metadata = child(job, "metadata", create=True) or {}
    name = metadata.get("name") if isinstance(metadata.get("name"), str) else ""
    uid = metadata.get("uid") if isinstance(metadata.get("uid"), str) else ""
    template = child(spec, "template", create=True)
    template_meta = child(template, "metadata", create=True) if template is not None else None
    labels = child(template_meta, "labels", create=True) if template_meta is not None else None
    if labels is not None:
        for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
            labels.setdefault(key, name)
        for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
            labels.setdefault(key, uid)
    selector = child(spec, "selector", create=True)
    match_labels = child(selector, "matchLabels", create=True) if selector is not None else None
    if match_labels is not None:
        match_labels.setdefault(CONTROLLER_UID_LABEL, uid)
