"""kubesmith: a Kubernetes-compatible control plane and the tools that provision it."""

__version__ = "0.1.0"
