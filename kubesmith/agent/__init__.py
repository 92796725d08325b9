"""The node agent: turns a Linux host into a cluster node running real OCI containers."""
