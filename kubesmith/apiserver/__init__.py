"""The HTTP API server: TLS, authentication, authorization, admission, handlers, discovery
and OpenAPI over the resource model in :mod:`kubesmith.api`."""
