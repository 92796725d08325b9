"""The CronJob controller: Jobs on cron schedules (see :mod:`.controller`)."""

from kubesmith.controllers.cronjob.controller import CronJobController

__all__ = ["CronJobController"]
