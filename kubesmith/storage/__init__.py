"""Datastores with etcd semantics: embedded SQLite (default) and etcd v3.

Only the API layer (``kubesmith.api``) imports this package.
"""
