"""Controllers: level-triggered reconcilers over informers and work queues, talking to the
API server only through :mod:`kubesmith.client`."""
