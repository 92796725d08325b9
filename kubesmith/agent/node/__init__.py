"""The node agent's Node: registering it, keeping its status and Lease fresh, and the
client certificate it acts with.

* :mod:`~kubesmith.agent.node.registration` — :class:`NodeRegistration`: register (or adopt)
  the Node, then report its status and renew its Lease until cancelled;
* :mod:`~kubesmith.agent.node.host` — what the host has (capacity, allocatable, nodeInfo,
  addresses), read from ``/proc``, ``/sys`` and ``/etc``;
* :mod:`~kubesmith.agent.node.labels` — ``--node-labels`` / ``--register-with-taints``
  checks, as the kubelet makes them;
* :mod:`~kubesmith.agent.node.conditions` — Ready and the pressure conditions;
* :mod:`~kubesmith.agent.node.lease` — the Lease in ``kube-node-lease``;
* :mod:`~kubesmith.agent.node.bootstrap` — joining with a bootstrap token: a node client
  certificate through a CertificateSigningRequest, and its rotation;
* :mod:`~kubesmith.agent.node.nodeobjects` — the pure Node/Lease pieces shared with hollow
  nodes.

Nothing is imported here, so the hollow nodes can use ``nodeobjects`` without the rest.
"""
