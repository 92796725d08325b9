"""CNI network configuration: finding the node's conflist, and the agent's default one.

Like the kubelet's runtimes (containerd, CRI-O) we use the lexically first valid
``*.conf`` / ``*.conflist`` / ``*.json`` file in the configuration directory; a single
plugin ``.conf`` is wrapped into a list. When the directory holds none, the agent can
build (and write) a default bridge + host-local + portmap list on the node's pod CIDR, so a
single-node cluster has pod networking before any network add-on is deployed.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kubesmith.api.types import Obj

log = logging.getLogger(__name__)

CONFIG_EXTENSIONS = (".conf", ".conflist", ".json")
DEFAULT_CNI_VERSION = "1.0.0"
DEFAULT_CONFIG_FILE = "10-kubesmith.conflist"


@dataclass(frozen=True)
class NetworkConfigList:
    """A parsed conflist: the network name, the spec version and the plugin chain."""

    name: str
    cni_version: str
    plugins: tuple[Obj, ...]
    disable_check: bool = False
    source: Path | None = None  # the file it came from; None when generated

    def to_json(self) -> Obj:
        doc: Obj = {"cniVersion": self.cni_version, "name": self.name,
                    "plugins": [dict(p) for p in self.plugins]}
        if self.disable_check:
            doc["disableCheck"] = True
        return doc


def parse_config(doc: Any, *, single_plugin: bool = False,
                 source: Path | None = None) -> NetworkConfigList:
    """Validate a decoded conflist (or a single plugin ``.conf`` with ``single_plugin``)."""
    if not isinstance(doc, dict):
        raise ValueError("network configuration is not a JSON object")
    if single_plugin or "plugins" not in doc:
        if not doc.get("type"):
            raise ValueError("error parsing configuration: missing 'type'")
        plugin = {k: v for k, v in doc.items() if k not in ("cniVersion", "name")}
        plugins: list[Any] = [plugin]
    else:
        plugins = doc.get("plugins") or []
        if not isinstance(plugins, list) or not plugins:
            raise ValueError("error parsing configuration list: no plugins in list")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("error parsing configuration list: no name")
    for plugin in plugins:
        if not isinstance(plugin, dict) or not isinstance(plugin.get("type"), str):
            raise ValueError("error parsing configuration list: plugin without 'type'")
    return NetworkConfigList(
        name=name, cni_version=str(doc.get("cniVersion") or "0.1.0"),
        plugins=tuple(plugins), disable_check=bool(doc.get("disableCheck")), source=source)


def load_config_file(path: Path) -> NetworkConfigList:
    """Read and parse one configuration file (raises ValueError/OSError when invalid)."""
    doc = orjson.loads(path.read_bytes())
    return parse_config(doc, single_plugin=path.suffix != ".conflist", source=path)


def config_files(conf_dir: Path) -> list[Path]:
    """Candidate configuration files in lexical order, as libcni's ConfFiles lists them."""
    try:
        entries = sorted(conf_dir.iterdir(), key=lambda p: p.name)
    except FileNotFoundError:
        return []
    return [p for p in entries if p.suffix in CONFIG_EXTENSIONS and p.is_file()]


def find_network_config(conf_dir: Path) -> NetworkConfigList | None:
    """The lexically first valid configuration in ``conf_dir``; invalid files are skipped
    (with a warning) so one stray file does not take a node's networking down."""
    for path in config_files(conf_dir):
        try:
            return load_config_file(path)
        except (OSError, ValueError) as exc:
            log.warning("skipping invalid CNI configuration %s: %s", path, exc)
    return None


def default_config(pod_cidrs: Sequence[str], *, name: str = "kubesmith", bridge: str = "cni0",
                   ipam_data_dir: Path | None = None,
                   cni_version: str = DEFAULT_CNI_VERSION) -> NetworkConfigList:
    """The agent's built-in network: a Linux bridge with the gateway and masquerading on the
    host, host-local addresses from the node's pod CIDR(s), and portmap for hostPort."""
    if not pod_cidrs:
        raise ValueError("a pod CIDR is needed to build the default network")
    ranges: list[list[Obj]] = []
    routes: list[Obj] = []
    for cidr in pod_cidrs:
        network = ipaddress.ip_network(cidr, strict=False)
        ranges.append([{"subnet": str(network)}])
        routes.append({"dst": "0.0.0.0/0" if network.version == 4 else "::/0"})
    ipam: Obj = {"type": "host-local", "ranges": ranges, "routes": routes}
    if ipam_data_dir is not None:
        ipam["dataDir"] = str(ipam_data_dir)
    bridge_plugin: Obj = {"type": "bridge", "bridge": bridge, "isGateway": True,
                          "ipMasq": True, "hairpinMode": True, "ipam": ipam}
    portmap: Obj = {"type": "portmap", "capabilities": {"portMappings": True}}
    return NetworkConfigList(name=name, cni_version=cni_version,
                             plugins=(bridge_plugin, portmap))


def loopback_config(cni_version: str = DEFAULT_CNI_VERSION) -> NetworkConfigList:
    """The loopback network every runtime brings up for ``lo`` in each pod."""
    return NetworkConfigList(name="cni-loopback", cni_version=cni_version,
                             plugins=({"type": "loopback"},))


def write_config(path: Path, config: NetworkConfigList) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(config.to_json(), option=orjson.OPT_INDENT_2) + b"\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
