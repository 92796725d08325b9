"""Pod volumes on the node: emptyDir, hostPath, configMap, secret, downwardAPI, projected
(ServiceAccount tokens included) and persistentVolumeClaim on node-local volumes, with
atomic live updates and safe subPath mounts. :class:`VolumeManager` is the entry point."""

from kubesmith.agent.volumes.errors import VolumeError
from kubesmith.agent.volumes.manager import VolumeManager

__all__ = ["VolumeError", "VolumeManager"]
