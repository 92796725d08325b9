"""Reading pod addresses out of a CNI result, whatever spec version produced it."""

from __future__ import annotations

import ipaddress

from kubesmith.api.types import Obj


def result_ips(result: Obj | None, ifname: str) -> list[str]:
    """The addresses assigned to ``ifname`` inside the pod, IPv4 first (the runtimes'
    default family preference, so ``status.podIP`` is the IPv4 one on dual-stack nodes).

    Understands spec 0.3.0+ results (``ips`` with an ``interface`` index into
    ``interfaces``) and the 0.1/0.2 form (``ip4``/``ip6`` objects).
    """
    if not result:
        return []
    addresses: list[str] = []
    if isinstance(result.get("ips"), list):
        interfaces = result.get("interfaces") or []
        for entry in result["ips"]:
            if not isinstance(entry, dict) or not entry.get("address"):
                continue
            index = entry.get("interface")
            if isinstance(index, int) and 0 <= index < len(interfaces):
                iface = interfaces[index] or {}
                # Skip addresses on host-side links (the bridge, the host veth end).
                if not iface.get("sandbox") or iface.get("name") not in (ifname, None):
                    continue
            addresses.append(str(entry["address"]).split("/")[0])
    else:
        for family in ("ip4", "ip6"):
            block = result.get(family)
            if isinstance(block, dict) and block.get("ip"):
                addresses.append(str(block["ip"]).split("/")[0])
    valid = []
    for address in addresses:
        try:
            valid.append(ipaddress.ip_address(address))
        except ValueError:
            continue
    ordered = sorted(dict.fromkeys(valid), key=lambda ip: ip.version)
    return [str(ip) for ip in ordered]
