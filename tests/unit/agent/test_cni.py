"""CNI configuration lookup, the default network, and the plugin execution protocol
(environment, stdin, chaining, caching, errors), driven through fake plugin scripts that
record what they were given."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.cni import CNI, CNIError, CNINotReady, default_config, find_network_config
from kubesmith.agent.cni.leftovers import rules_of
from kubesmith.agent.cni.ports import port_mappings
from kubesmith.agent.cni.result import result_ips

# A fake plugin: logs its CNI_* environment and stdin, answers like a real plugin would.
FAKE_PLUGIN = """#!{python} -S
import json, os, sys
conf = json.load(sys.stdin)
ptype = os.path.basename(sys.argv[0])
env = {{k: v for k, v in os.environ.items() if k.startswith("CNI_")}}
with open(os.environ["FAKE_CNI_LOG"], "a") as log:
    log.write(json.dumps({{"type": ptype, "env": env, "conf": conf,
                          "path": os.environ.get("PATH")}}) + "\\n")
command = env["CNI_COMMAND"]
if ptype in os.environ.get("FAKE_CNI_FAIL", "").split(",") and command in (
        os.environ.get("FAKE_CNI_FAIL_ON", "ADD").split(",")):
    print(json.dumps({{"cniVersion": conf["cniVersion"], "code": 11,
                      "msg": "failed to allocate for range 0",
                      "details": "no IP addresses available"}}))
    sys.exit(1)
if command != "ADD":
    sys.exit(0)
if ptype == "loopback":
    result = {{"cniVersion": conf["cniVersion"],
              "interfaces": [{{"name": "lo", "sandbox": env["CNI_NETNS"]}}],
              "ips": [{{"address": "127.0.0.1/8", "interface": 0}}]}}
elif "prevResult" in conf:
    result = conf["prevResult"]
else:
    result = {{"cniVersion": conf["cniVersion"],
              "interfaces": [{{"name": "br-fake"}},
                             {{"name": env["CNI_IFNAME"], "sandbox": env["CNI_NETNS"]}}],
              "ips": [{{"address": "fd00::5/64", "interface": 1}},
                      {{"address": "10.244.0.5/24", "gateway": "10.244.0.1",
                        "interface": 1}},
                      {{"address": "10.244.0.1/24", "interface": 0}}]}}
print(json.dumps(result))
"""


@pytest.fixture
def plugin_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_CNI_LOG", str(log))
    monkeypatch.delenv("FAKE_CNI_FAIL", raising=False)
    return log


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    for name in ("fakebridge", "fakeportmap", "loopback", "bridge", "portmap"):
        script = directory / name
        script.write_text(FAKE_PLUGIN.format(python=sys.executable))
        script.chmod(0o755)
    return directory


def forget(log: Path) -> None:
    """Start a fresh record of plugin calls."""
    log.unlink()


def calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


CHAIN = {"cniVersion": "1.0.0", "name": "testnet", "plugins": [
    {"type": "fakebridge", "bridge": "br-fake", "ipam": {"type": "host-local"}},
    {"type": "fakeportmap", "capabilities": {"portMappings": True}},
]}


def make_cni(tmp_path: Path, bin_dir: Path, conflist: dict[str, Any] | None = CHAIN,
             **kwargs: Any) -> CNI:
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir(exist_ok=True)
    if conflist is not None:
        (conf_dir / "10-test.conflist").write_text(json.dumps(conflist))
    kwargs.setdefault("sweep_leftovers", None)  # never touch the host's iptables here
    return CNI(conf_dir=conf_dir, bin_dirs=(tmp_path / "missing", bin_dir),
               cache_dir=tmp_path / "cache", **kwargs)


def netns_file(tmp_path: Path) -> Path:
    path = tmp_path / "netns-a"
    path.touch()
    return path


# -- configuration ------------------------------------------------------------------------


def test_lexically_first_valid_file_wins_and_conf_files_are_wrapped(tmp_path: Path) -> None:
    conf_dir = tmp_path / "net.d"
    conf_dir.mkdir()
    (conf_dir / "05-broken.conflist").write_text("{not json")
    (conf_dir / "07-single.conf").write_text(json.dumps(
        {"cniVersion": "0.4.0", "name": "single", "type": "bridge", "bridge": "b0"}))
    (conf_dir / "10-list.conflist").write_text(json.dumps(CHAIN))
    (conf_dir / "00-ignored.txt").write_text("{}")
    found = find_network_config(conf_dir)
    assert found is not None
    assert (found.name, found.cni_version) == ("single", "0.4.0")
    assert found.plugins == ({"type": "bridge", "bridge": "b0"},)
    assert found.source == conf_dir / "07-single.conf"
    assert find_network_config(tmp_path / "nowhere") is None


def test_default_network_on_the_node_pod_cidrs() -> None:
    config = default_config(["10.244.3.0/24", "fd00:10:244:3::/64"], name="kubesmith",
                            bridge="cni0", ipam_data_dir=Path("/var/lib/x"))
    assert config.to_json() == {
        "cniVersion": "1.0.0",
        "name": "kubesmith",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True,
             "hairpinMode": True,
             "ipam": {"type": "host-local",
                      "ranges": [[{"subnet": "10.244.3.0/24"}],
                                 [{"subnet": "fd00:10:244:3::/64"}]],
                      "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
                      "dataDir": "/var/lib/x"}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ]}


def test_not_ready_without_configuration_or_pod_cidr(tmp_path: Path, bin_dir: Path) -> None:
    cni = make_cni(tmp_path, bin_dir, conflist=None)
    assert cni.status() == "cni plugin not initialized"
    with pytest.raises(CNINotReady):
        cni.network()
    with pytest.raises(CNINotReady):
        cni.write_default_config()


def test_default_network_used_and_written_when_the_directory_is_empty(
        tmp_path: Path, bin_dir: Path) -> None:
    cni = make_cni(tmp_path, bin_dir, conflist=None, default_pod_cidr="10.244.7.0/24",
                   bridge="ks-unit0")
    assert cni.network().plugins[0]["bridge"] == "ks-unit0"
    assert cni.status() is None  # bridge, portmap and loopback fakes are in bin_dir
    path = cni.write_default_config()
    assert path == cni.conf_dir / "99-kubesmith.conflist"
    written = json.loads(path.read_text())
    assert written["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.7.0/24"}]]
    mtime = path.stat().st_mtime_ns
    assert cni.write_default_config() == path
    assert path.stat().st_mtime_ns == mtime  # unchanged content is not rewritten
    cni.set_pod_cidrs(["10.244.8.0/24"])
    cni.write_default_config()
    assert "10.244.8.0/24" in path.read_text()
    # A network add-on's file (lexically first) takes over; ours is left alone.
    (cni.conf_dir / "10-flannel.conflist").write_text(json.dumps(CHAIN))
    assert cni.write_default_config() is None
    assert cni.network().name == "testnet"


def test_status_names_a_missing_plugin(tmp_path: Path, bin_dir: Path) -> None:
    (bin_dir / "fakeportmap").unlink()
    cni = make_cni(tmp_path, bin_dir)
    assert cni.status() == (
        f'failed to find plugin "fakeportmap" in path [{tmp_path / "missing"} {bin_dir}]')


# -- ADD / DEL / CHECK ----------------------------------------------------------------------


async def test_add_runs_loopback_then_the_chain_with_the_cni_protocol(
        tmp_path: Path, bin_dir: Path, plugin_log: Path) -> None:
    cni = make_cni(tmp_path, bin_dir)
    netns = netns_file(tmp_path)
    mappings = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
    network = await cni.add(container_id="c1", netns=netns, pod_name="web",
                            namespace="shop", pod_uid="u-1", port_mappings=mappings)
    assert network.ips == ["10.244.0.5", "fd00::5"]  # IPv4 first, host-side addresses out
    assert network.interface == "eth0"
    assert network.network_name == "testnet"

    loopback, bridge, portmap = calls(plugin_log)
    assert loopback["type"] == "loopback"
    assert loopback["env"]["CNI_IFNAME"] == "lo"
    assert loopback["conf"] == {"type": "loopback", "name": "cni-loopback",
                                "cniVersion": "1.0.0"}
    assert bridge["env"] == {
        "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": str(netns),
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;"
                    "K8S_POD_INFRA_CONTAINER_ID=c1;K8S_POD_UID=u-1",
        "CNI_PATH": f"{tmp_path / 'missing'}:{bin_dir}"}
    assert bridge["path"] == os.environ["PATH"]  # portmap & co. need PATH for iptables
    assert bridge["conf"] == {"type": "fakebridge", "bridge": "br-fake",
                              "ipam": {"type": "host-local"},
                              "name": "testnet", "cniVersion": "1.0.0"}
    # The second plugin is chained on the first one's result and gets the port mappings
    # because it declared the capability (the first did not).
    assert portmap["conf"]["prevResult"]["ips"][1]["address"] == "10.244.0.5/24"
    assert portmap["conf"]["runtimeConfig"] == {"portMappings": mappings}
    assert "runtimeConfig" not in bridge["conf"]

    cached = list((tmp_path / "cache" / "results").iterdir())
    assert [p.name for p in cached] == ["testnet-c1-eth0"]


async def test_delete_replays_the_cached_config_in_reverse_with_prev_result(
        tmp_path: Path, bin_dir: Path, plugin_log: Path) -> None:
    cni = make_cni(tmp_path, bin_dir)
    netns = netns_file(tmp_path)
    mappings = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
    await cni.add(container_id="c1", netns=netns, pod_name="web", namespace="shop",
                  pod_uid="u-1", port_mappings=mappings)
    add_result = calls(plugin_log)[2]["conf"]["prevResult"]
    # The node's configuration changes afterwards; DEL must still use what ADD used.
    (cni.conf_dir / "10-test.conflist").write_text(json.dumps(
        {"cniVersion": "1.0.0", "name": "other", "plugins": [{"type": "bridge"}]}))
    forget(plugin_log)
    await cni.delete(container_id="c1", netns=netns)
    portmap, bridge, loopback = calls(plugin_log)
    assert [c["type"] for c in (portmap, bridge, loopback)] == [
        "fakeportmap", "fakebridge", "loopback"]
    assert all(c["env"]["CNI_COMMAND"] == "DEL" for c in (portmap, bridge, loopback))
    assert portmap["conf"]["prevResult"] == add_result
    assert portmap["conf"]["runtimeConfig"] == {"portMappings": mappings}
    assert bridge["conf"]["name"] == "testnet"
    assert "K8S_POD_NAME=web" in bridge["env"]["CNI_ARGS"]
    assert not list((tmp_path / "cache" / "results").iterdir())


async def test_delete_is_idempotent_without_netns_or_cache(
        tmp_path: Path, bin_dir: Path, plugin_log: Path) -> None:
    swept: list[str] = []

    async def sweep(container_id: str) -> None:
        swept.append(container_id)

    cni = make_cni(tmp_path, bin_dir, sweep_leftovers=sweep)
    netns = netns_file(tmp_path)
    await cni.add(container_id="c1", netns=netns, pod_name="web", namespace="shop",
                  pod_uid="u-1")
    await cni.delete(container_id="c0", netns=netns)  # another pod, netns present
    assert swept == []
    netns.unlink()
    forget(plugin_log)
    await cni.delete(container_id="c1", netns=netns)
    assert {c["env"]["CNI_NETNS"] for c in calls(plugin_log)} == {""}
    assert swept == ["c1"]  # rules the plugins could not undo without the netns
    forget(plugin_log)
    # Again: no cache record any more, so the current configuration is used, no prevResult.
    await cni.delete(container_id="c1", netns=None, pod_name="web", namespace="shop",
                     pod_uid="u-1")
    second = calls(plugin_log)
    assert [c["type"] for c in second] == ["fakeportmap", "fakebridge", "loopback"]
    assert all("prevResult" not in c["conf"] for c in second)
    assert "K8S_POD_UID=u-1" in second[0]["env"]["CNI_ARGS"]


async def test_plugin_error_is_raised_with_its_message_and_add_cleans_up(
        tmp_path: Path, bin_dir: Path, plugin_log: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cni = make_cni(tmp_path, bin_dir)
    monkeypatch.setenv("FAKE_CNI_FAIL", "fakeportmap")
    with pytest.raises(CNIError) as caught:
        await cni.add(container_id="c2", netns=netns_file(tmp_path), pod_name="web",
                      namespace="shop", pod_uid="u-2")
    error = caught.value
    assert error.msg == "failed to allocate for range 0"
    assert (error.code, error.details, error.plugin) == (
        11, "no IP addresses available", "fakeportmap")
    assert str(error) == ('plugin type="fakeportmap" name="testnet" failed (add): '
                          "failed to allocate for range 0; no IP addresses available")
    # The bridge's allocation was released straight away and nothing was cached.
    commands = [(c["type"], c["env"]["CNI_COMMAND"]) for c in calls(plugin_log)]
    assert ("fakebridge", "DEL") in commands
    assert not (tmp_path / "cache" / "results").exists() or not list(
        (tmp_path / "cache" / "results").iterdir())


async def test_failed_delete_keeps_the_cache_for_a_retry(
        tmp_path: Path, bin_dir: Path, plugin_log: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cni = make_cni(tmp_path, bin_dir)
    netns = netns_file(tmp_path)
    await cni.add(container_id="c3", netns=netns, pod_name="web", namespace="shop",
                  pod_uid="u-3")
    monkeypatch.setenv("FAKE_CNI_FAIL", "fakeportmap")
    monkeypatch.setenv("FAKE_CNI_FAIL_ON", "DEL")
    forget(plugin_log)
    with pytest.raises(CNIError, match=r"failed \(del\)"):
        await cni.delete(container_id="c3", netns=netns)
    # The other plugins still ran, so their resources are released anyway.
    assert [c["type"] for c in calls(plugin_log)] == ["fakeportmap", "fakebridge", "loopback"]
    assert (tmp_path / "cache" / "results" / "testnet-c3-eth0").exists()
    monkeypatch.delenv("FAKE_CNI_FAIL")
    await cni.delete(container_id="c3", netns=netns)
    assert not (tmp_path / "cache" / "results" / "testnet-c3-eth0").exists()


async def test_check_sends_the_cached_result(
        tmp_path: Path, bin_dir: Path, plugin_log: Path) -> None:
    cni = make_cni(tmp_path, bin_dir)
    netns = netns_file(tmp_path)
    await cni.add(container_id="c4", netns=netns, pod_name="web", namespace="shop",
                  pod_uid="u-4")
    forget(plugin_log)
    await cni.check(container_id="c4", netns=netns)
    checks = calls(plugin_log)
    assert [c["env"]["CNI_COMMAND"] for c in checks] == ["CHECK", "CHECK"]
    assert checks[0]["conf"]["prevResult"]["ips"][1]["address"] == "10.244.0.5/24"
    with pytest.raises(CNIError, match="no cached CNI result"):
        await cni.check(container_id="nope", netns=netns)


async def test_missing_plugin_binary(tmp_path: Path, bin_dir: Path, plugin_log: Path) -> None:
    (bin_dir / "fakebridge").unlink()
    cni = make_cni(tmp_path, bin_dir)
    with pytest.raises(CNIError) as caught:
        await cni.add(container_id="c5", netns=netns_file(tmp_path), pod_name="p",
                      namespace="n", pod_uid="u")
    assert caught.value.msg.startswith('failed to find plugin "fakebridge" in path [')


async def test_plugin_without_json_error_reports_stderr(tmp_path: Path, bin_dir: Path,
                                                        plugin_log: Path) -> None:
    broken = bin_dir / "fakebridge"
    broken.write_text("#!/bin/sh\necho 'segfault in plugin' >&2\nexit 2\n")
    cni = make_cni(tmp_path, bin_dir)
    with pytest.raises(CNIError) as caught:
        await cni.add(container_id="c6", netns=netns_file(tmp_path), pod_name="p",
                      namespace="n", pod_uid="u")
    assert caught.value.msg == "segfault in plugin"


# -- helpers ----------------------------------------------------------------------------------


def test_port_mappings_from_container_ports() -> None:
    pod = {"spec": {
        "initContainers": [
            {"name": "side", "restartPolicy": "Always",
             "ports": [{"containerPort": 9000, "hostPort": 9000}]},
            {"name": "init", "ports": [{"containerPort": 1, "hostPort": 1}]}],
        "containers": [{"name": "web", "ports": [
            {"containerPort": 80, "hostPort": 8080},
            {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "127.0.0.1"},
            {"containerPort": 443}]}]}}
    assert port_mappings(pod) == [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"},
        {"hostPort": 9000, "containerPort": 9000, "protocol": "tcp"}]
    pod["spec"]["hostNetwork"] = True
    assert port_mappings(pod) == []


def test_result_ips_of_every_spec_version() -> None:
    v040 = {"cniVersion": "0.4.0", "interfaces": [{"name": "eth0", "sandbox": "/n"}],
            "ips": [{"version": "4", "address": "10.1.0.9/24", "interface": 0}]}
    assert result_ips(v040, "eth0") == ["10.1.0.9"]
    v020 = {"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.7/24"}}
    assert result_ips(v020, "eth0") == ["10.1.0.7"]
    assert result_ips(None, "eth0") == []


def test_leftover_rules_are_found_by_container_id() -> None:
    cid = "ab" * 32
    other = "cd" * 32
    save = f"""*nat
:POSTROUTING ACCEPT [0:0]
:CNI-aaa - [0:0]
:CNI-bbb - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
-A POSTROUTING -s 10.0.0.3/32 -m comment --comment "name: \\"n\\" id: \\"{cid}\\"" -j CNI-aaa
-A POSTROUTING -s 10.0.0.4/32 -m comment --comment "name: \\"n\\" id: \\"{other}\\"" -j CNI-bbb
-A CNI-aaa -d 10.0.0.0/24 -m comment --comment "name: \\"n\\" id: \\"{cid}\\"" -j ACCEPT
-A CNI-bbb -d 10.0.0.0/24 -m comment --comment "name: \\"n\\" id: \\"{other}\\"" -j ACCEPT
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK
COMMIT
"""
    tagged, only_ours = rules_of(save, cid)
    assert tagged == [
        ("nat", "POSTROUTING", ["-s", "10.0.0.3/32", "-m", "comment", "--comment",
                                f'name: "n" id: "{cid}"', "-j", "CNI-aaa"]),
        ("nat", "CNI-aaa", ["-d", "10.0.0.0/24", "-m", "comment", "--comment",
                            f'name: "n" id: "{cid}"', "-j", "ACCEPT"])]
    assert only_ours == {("nat", "CNI-aaa")}
