"""Registries on loopback for the image tests (fixtures live in tests/support/registry.py)."""

from tests.support.registry import (  # noqa: F401 (fixtures are found by name)
    htpasswd_registry,
    loopback_registry,
    token_registry,
)
