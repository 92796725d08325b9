"""CNI: attaching pod sandboxes to the node's network with the standard CNI plugins."""

from kubesmith.agent.cni.config import NetworkConfigList, default_config, find_network_config
from kubesmith.agent.cni.errors import CNIError, CNINotReady
from kubesmith.agent.cni.network import CNI, DEFAULT_BIN_DIRS, DEFAULT_CONF_DIR, PodNetwork
from kubesmith.agent.cni.ports import port_mappings

__all__ = [
    "CNI",
    "DEFAULT_BIN_DIRS",
    "DEFAULT_CONF_DIR",
    "CNIError",
    "CNINotReady",
    "NetworkConfigList",
    "PodNetwork",
    "default_config",
    "find_network_config",
    "port_mappings",
]
