"""The one error the volume manager raises, shaped like the kubelet's events."""

from __future__ import annotations

#: Event reason of a volume that could not be set up (the pod stays ContainerCreating).
FAILED_MOUNT = "FailedMount"
#: Container waiting reason when its mounts cannot be built (bad subPath, missing volume).
CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"


class VolumeError(Exception):
    """A volume could not be set up or mounted.

    ``reason`` is the upstream event (or container waiting) reason and ``message`` the
    text the kubelet would put in the event, e.g. ``MountVolume.SetUp failed for volume
    "cfg" : configmap "app" not found``; ``cause`` is the bare error after the prefix.
    """

    def __init__(self, reason: str, message: str, *, volume: str = "",
                 cause: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.volume = volume
        self.cause = cause or message

    @classmethod
    def setup_failed(cls, volume: str, cause: str) -> VolumeError:
        """A volume's SetUp failed (upstream's ``MountVolume.SetUp failed`` event)."""
        return cls(FAILED_MOUNT, f'MountVolume.SetUp failed for volume "{volume}" : {cause}',
                   volume=volume, cause=cause)

    @classmethod
    def container_config(cls, cause: str, *, volume: str = "") -> VolumeError:
        """A container's mounts could not be built (CreateContainerConfigError)."""
        return cls(CREATE_CONTAINER_CONFIG_ERROR, cause, volume=volume, cause=cause)


class SourceError(Exception):
    """A volume source's content could not be produced; the message is upstream's bare
    error text (``configmap "x" not found``) that :class:`VolumeError` wraps."""
