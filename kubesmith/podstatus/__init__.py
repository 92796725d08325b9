"""Pure pieces of the pod status a kubelet reports, shared by the node agent
(:mod:`kubesmith.agent.pods`) and the simulated kubelets (:mod:`kubesmith.hollow`):
the conditions the kubelet owns (:mod:`~kubesmith.podstatus.conditions`, upstream's
``pkg/kubelet/status/generate.go``) and the merge patch that writes only what changed
(:mod:`~kubesmith.podstatus.diff`)."""
