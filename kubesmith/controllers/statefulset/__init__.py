"""The StatefulSet controller (registered as ``statefulset-controller``)."""

from kubesmith.controllers.statefulset.controller import StatefulSetController

__all__ = ["StatefulSetController"]
