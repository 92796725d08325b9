"""The DaemonSet controller (registered as ``daemonset-controller``)."""

from kubesmith.controllers.daemonset.controller import DaemonSetController

__all__ = ["DaemonSetController"]
