"""Container images on the node: pulling from registries, importing tarballs, a
content-addressed layer store, overlay root filesystems and garbage collection."""

from kubesmith.agent.images.credentials import RegistryAuth, credentials_from_pull_secrets
from kubesmith.agent.images.model import (
    REASON_INVALID_NAME,
    REASON_NEVER_PULL,
    REASON_PULL,
    ImageConfig,
    ImageInfo,
    ImageInUseError,
    ImagePullError,
)
from kubesmith.agent.images.reference import ImageReference, normalize, parse_reference
from kubesmith.agent.images.store import ImageStore

__all__ = [
    "REASON_INVALID_NAME",
    "REASON_NEVER_PULL",
    "REASON_PULL",
    "ImageConfig",
    "ImageInUseError",
    "ImageInfo",
    "ImagePullError",
    "ImageReference",
    "ImageStore",
    "RegistryAuth",
    "credentials_from_pull_secrets",
    "normalize",
    "parse_reference",
]
