"""The Job controller: runs a Job's pods to completion (see :mod:`.controller`)."""

from kubesmith.controllers.job.controller import JobController

__all__ = ["JobController"]
