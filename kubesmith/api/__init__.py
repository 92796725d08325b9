"""The resource model: registry of kinds, strategies, validation, patching, the generic
store over :mod:`kubesmith.storage` and its watch cache."""
