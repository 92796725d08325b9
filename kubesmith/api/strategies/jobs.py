"""Jobs: the server generates the selector and the controller-uid labels on create, unless
the user asked for ``manualSelector``."""

from __future__ import annotations

from kubesmith.api.defaults.workloads import generate_job_selector
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj


class JobStrategy(Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        generate_job_selector(obj)
