"""What the image store hands to the rest of the agent: image records and pull errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Container status reasons the kubelet uses for image problems.
REASON_PULL = "ErrImagePull"
REASON_NEVER_PULL = "ErrImageNeverPull"
REASON_INVALID_NAME = "InvalidImageName"


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image's config JSON that shape how a container runs."""

    entrypoint: list[str]
    cmd: list[str]
    env: list[str]
    working_dir: str
    user: str

    @classmethod
    def from_config_json(cls, document: dict[str, Any]) -> ImageConfig:
        """Read ``config`` of an OCI/Docker image config document (absent fields are empty)."""
        config = document.get("config") or {}
        return cls(entrypoint=list(config.get("Entrypoint") or []),
                   cmd=list(config.get("Cmd") or []),
                   env=list(config.get("Env") or []),
                   working_dir=str(config.get("WorkingDir") or ""),
                   user=str(config.get("User") or ""))

    def to_json(self) -> dict[str, Any]:
        """The form kept in the store's index."""
        return {"Entrypoint": self.entrypoint, "Cmd": self.cmd, "Env": self.env,
                "WorkingDir": self.working_dir, "User": self.user}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """An image present in the store."""

    id: str                        # "sha256:<config digest hex>"
    references: tuple[str, ...]    # normalized "domain/path:tag"
    repo_digests: tuple[str, ...]  # "domain/path@sha256:<manifest digest>"
    size: int                      # bytes of the image's blobs as the registry serves them
    layers: tuple[str, ...]        # diff ids ("sha256:..."), bottom layer first
    config: ImageConfig


class ImagePullError(Exception):
    """An image could not be made present; ``message`` is safe to show users (no secrets)."""

    def __init__(self, message: str, *, reason: str = REASON_PULL) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class ImageInUseError(Exception):
    """The image is used by a container, so it cannot be removed."""
