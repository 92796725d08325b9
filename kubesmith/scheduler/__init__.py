"""kube-scheduler for kubesmith: a framework of plugins with upstream's semantics and
messages (``framework``, ``plugins/``), an incremental node cache with assumed pods
(``cache``), the scheduling queue (``queue``) and the component around them (``app``).

It talks to the API only through :mod:`kubesmith.client`, like the real kube-scheduler.
"""

from kubesmith.scheduler.app import SchedulerApp, run_scheduler
from kubesmith.scheduler.scheduler import DEFAULT_SCHEDULER_NAME, Scheduler

__all__ = ["DEFAULT_SCHEDULER_NAME", "Scheduler", "SchedulerApp", "run_scheduler"]
