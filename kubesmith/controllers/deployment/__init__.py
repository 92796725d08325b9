"""The Deployment controller: Deployments rolled out through ReplicaSets (RollingUpdate or
Recreate), with revisions ``kubectl rollout history/undo`` understand, pause and resume,
proportional scaling during a rollout, history cleanup and the progress deadline."""

from kubesmith.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
