"""Pods attached with the real bridge, host-local, loopback and portmap plugins: addresses
from the pod CIDR, pod-to-pod traffic, hostPort, and DEL releasing everything."""

from __future__ import annotations

import ipaddress
import json
import random
import time

import pytest

from kubesmith.agent.cni import CNIError

from .conftest import PodNet, run, wait_for_port

pytestmark = pytest.mark.integration


def iptables_rules() -> str:
    return run("iptables-save").stdout


async def test_default_network_attach_reach_and_release(podnet: PodNet) -> None:
    written = podnet.cni.write_default_config()
    assert written is not None and written.exists()
    assert json.loads(written.read_text())["plugins"][0]["bridge"] == podnet.bridge
    assert podnet.cni.status() is None

    ns_a, path_a, net_a = await podnet.attach("a")
    ns_b, path_b, net_b = await podnet.attach("b")
    ip_a, ip_b = (ipaddress.ip_address(n.ips[0]) for n in (net_a, net_b))
    gateway = next(podnet.cidr.hosts())
    assert ip_a in podnet.cidr and ip_b in podnet.cidr
    assert len({ip_a, ip_b, gateway}) == 3
    assert f"inet {ip_a}/{podnet.cidr.prefixlen}" in podnet.exec_in(
        ns_a, "ip", "-o", "addr", "show", "eth0").stdout
    assert "UP" in podnet.exec_in(ns_a, "ip", "-o", "link", "show", "lo").stdout
    assert f"default via {gateway}" in podnet.exec_in(ns_a, "ip", "route").stdout

    # Pod to pod over the bridge: ICMP and a real HTTP exchange.
    podnet.exec_in(ns_b, "busybox", "ping", "-c", "1", "-W", "2", str(ip_a))
    podnet.serve_http(ns_a, 8080, {"index.html": "hello from a\n"})
    wait_for_port(str(ip_a), 8080)  # the host reaches pods through the bridge gateway
    assert podnet.wget(ns_b, f"http://{ip_a}:8080/index.html") == (0, "hello from a\n")

    lease = podnet.ipam_dir / podnet.cni.default_network_name / str(ip_a)
    assert podnet.container_id("a") in lease.read_text()
    assert podnet.container_id("a") in iptables_rules()  # the ipMasq rule

    await podnet.cni.delete(container_id=podnet.container_id("a"), netns=path_a)
    assert not lease.exists()
    assert podnet.exec_in(ns_a, "ip", "link", "show", "eth0", check=False).returncode != 0
    assert podnet.container_id("a") not in iptables_rules()
    # DEL is idempotent.
    await podnet.cni.delete(container_id=podnet.container_id("a"), netns=path_a)

    # The namespace vanished before DEL (a crashed sandbox): the address is still released.
    run("ip", "netns", "del", ns_b)
    podnet.namespaces.remove(ns_b)
    await podnet.cni.delete(container_id=podnet.container_id("b"), netns=path_b)
    assert not (podnet.ipam_dir / podnet.cni.default_network_name / str(ip_b)).exists()
    assert podnet.container_id("b") not in iptables_rules()


async def test_host_port_reaches_the_pod_until_deleted(podnet: PodNet) -> None:
    if run("iptables", "-t", "nat", "-S", check=False).returncode != 0:
        pytest.fail("iptables does not work here: portmap cannot program hostPort rules")
    host_port = random.randint(20000, 29999)
    ns_a, path_a, net_a = await podnet.attach("a", port_mappings=[
        {"hostPort": host_port, "containerPort": 8080, "protocol": "tcp"}])
    podnet.serve_http(ns_a, 8080, {"index.html": "via hostPort\n"})
    wait_for_port(net_a.ips[0], 8080)
    assert f"--dport {host_port}" in iptables_rules()

    # A client outside the pod network connects to the node's own address on the hostPort.
    client, node_ip = podnet.client_netns("c")
    url = f"http://{node_ip}:{host_port}/index.html"
    deadline = time.monotonic() + 10
    while True:
        fetched = podnet.wget(client, url)
        if fetched[0] == 0 or time.monotonic() > deadline:
            break
    assert fetched == (0, "via hostPort\n")

    await podnet.cni.delete(container_id=podnet.container_id("a"), netns=path_a)
    assert f"--dport {host_port}" not in iptables_rules()
    assert podnet.wget(client, url, time_limit=3)[0] != 0


async def test_plugin_error_surfaces_with_the_plugin_message(podnet: PodNet) -> None:
    # A /30 leaves one usable address besides the gateway: the second pod gets none.
    podnet.cni.set_pod_cidrs([str(next(podnet.cidr.subnets(new_prefix=30)))])
    await podnet.attach("a")
    with pytest.raises(CNIError) as caught:
        await podnet.attach("b")
    assert caught.value.plugin == "bridge"
    assert "no IP addresses available in range set" in caught.value.msg
    # The failed ADD left nothing cached behind and released what it had set up.
    assert not (podnet.tmp / "cache" / "results" /
                f"{podnet.cni.default_network_name}-{podnet.container_id('b')}-eth0").exists()
