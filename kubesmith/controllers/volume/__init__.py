"""PersistentVolume binding and the built-in local-path provisioner."""
