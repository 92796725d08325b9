"""The API client every kubesmith component uses: kubeconfig loading, an async REST client
with watch, informers and work queues. Nothing here reaches storage or the API server's
internals; it speaks HTTP like any Kubernetes client."""

from kubesmith.client.config import ClientConfig, KubeconfigError, load_kubeconfig
from kubesmith.client.informer import Informer, object_key
from kubesmith.client.rest import ApiError, Client, ListResult, Resource
from kubesmith.client.workqueue import (
    ExponentialBackoff,
    QueueShutDown,
    RetryLater,
    WorkQueue,
    run_workers,
)

__all__ = [
    "ApiError",
    "Client",
    "ClientConfig",
    "ExponentialBackoff",
    "Informer",
    "KubeconfigError",
    "ListResult",
    "QueueShutDown",
    "Resource",
    "RetryLater",
    "WorkQueue",
    "load_kubeconfig",
    "object_key",
    "run_workers",
]
