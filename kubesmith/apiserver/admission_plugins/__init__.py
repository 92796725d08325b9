"""Admission plugins beyond the core chain in :mod:`kubesmith.apiserver.admission`."""
