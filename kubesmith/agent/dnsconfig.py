"""A pod's ``/etc/resolv.conf``, ``/etc/hosts`` and hostname, exactly as the kubelet makes them.

Pure functions of the pod and node settings; the pod workers write the results to the pod's
directory and bind-mount them into every container. Behaviour mirrors the kubelet's DNS
configurer (dnsPolicy, dnsConfig merging, search-line limits, the ``MissingClusterDNS``
fallback) and its managed hosts file, and the file layout mirrors what containerd writes
from the kubelet's DNS config (``search``, then ``nameserver`` lines, then ``options``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from kubesmith.api.types import Obj

# Upstream limits (apis/core/validation): 3 nameservers; 32 search paths of at most
# 253 characters each, 2048 characters in all (ExpandedDNSConfig, GA since 1.28).
MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_LIST_CHARS = 2048
MAX_SEARCH_PATH_CHARS = 253
DEFAULT_CLUSTER_OPTIONS = ("ndots:5",)

MANAGED_HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
MANAGED_HOSTS_HEADER_HOST_NETWORK = "# Kubernetes-managed hosts file (host network).\n"
HOST_ALIASES_HEADER = "# Entries added by HostAliases.\n"

HOSTNAME_MAX_LEN = 63
FQDN_MAX_LEN = 64

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class DNSEvent:
    """A Warning event the kubelet would record while forming the pod's DNS config."""

    reason: str  # "DNSConfigForming" | "MissingClusterDNS"
    message: str


@dataclass
class PodDNS:
    """The resolver settings handed to the sandbox (the CRI ``DNSConfig``)."""

    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    events: list[DNSEvent] = field(default_factory=list)


@dataclass(frozen=True)
class HostResolv:
    """What the node's resolv.conf says (the kubelet's ``--resolv-conf`` file)."""

    nameservers: list[str]
    searches: list[str]
    options: list[str]


def parse_resolv_conf(text: str) -> HostResolv:
    """Parse resolv.conf the kubelet's way: nameservers accumulate, the last ``search`` and
    the last ``options`` line win, a trailing dot on search domains is dropped."""
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.split("\n"):
        trimmed = line.strip()
        if trimmed.startswith("#"):
            continue
        fields = trimmed.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            nameservers.append(fields[1])
        elif fields[0] == "search":
            # A lone "." means "no search domains"; keep it rather than an empty entry.
            searches = [s[:-1] if s.endswith(".") and s != "." else s for s in fields[1:]]
        elif fields[0] == "options":
            options = fields[1:]
    return HostResolv(nameservers, searches, options)


def _omit_duplicates(items: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _merge_options(existing: Sequence[str], pod_options: Sequence[Obj]) -> list[str]:
    """Pod dnsConfig options override same-named existing ones. Upstream goes through a Go
    map (random order); we keep first-seen order so the file is stable."""
    merged: dict[str, str] = {}
    for option in existing:
        name, _, value = option.partition(":")
        merged[name] = value
    for pod_option in pod_options:
        pod_value = pod_option.get("value")
        merged[str(pod_option.get("name", ""))] = "" if pod_value is None else str(pod_value)
    return [f"{name}:{value}" if value else name for name, value in merged.items()]


def _fit_nameservers(dns: PodDNS) -> None:
    if len(dns.servers) > MAX_NAMESERVERS:
        dns.servers = dns.servers[:MAX_NAMESERVERS]
        dns.events.append(DNSEvent(
            "DNSConfigForming",
            "Nameserver limits were exceeded, some nameservers have been omitted, "
            f"the applied nameserver line is: {' '.join(dns.servers)}"))


def _fit_searches(dns: PodDNS) -> None:
    exceeded = False
    searches = dns.searches
    if len(searches) > MAX_SEARCH_PATHS:
        searches = searches[:MAX_SEARCH_PATHS]
        exceeded = True
    # Some resolvers (glibc 2.28) abort on a search path over 255 characters.
    kept = [s for s in searches if len(s) <= MAX_SEARCH_PATH_CHARS]
    exceeded = exceeded or len(kept) != len(searches)
    searches = kept
    line_len = len(" ".join(searches))
    if line_len > MAX_SEARCH_LIST_CHARS:
        cut = 0
        cut_len = 0
        for search in reversed(searches):
            cut_len += len(search) + 1
            cut += 1
            if line_len - cut_len <= MAX_SEARCH_LIST_CHARS:
                break
        searches = searches[: len(searches) - cut]
        exceeded = True
    dns.searches = searches
    if exceeded:
        dns.events.append(DNSEvent(
            "DNSConfigForming",
            "Search Line limits were exceeded, some search paths have been omitted, "
            f"the applied search line is: {' '.join(searches)}"))


def _format_pod(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def pod_dns(pod: Obj, *, cluster_dns: Sequence[str], cluster_domain: str,
            host_resolv: str | None, node_ips: Sequence[str] = ()) -> PodDNS:
    """The pod's resolver settings per its dnsPolicy and dnsConfig.

    ``host_resolv`` is the node's resolv.conf text, or None when the agent runs with an
    empty ``--resolv-conf`` (the kubelet then points Default pods at the local host).
    """
    spec = pod.get("spec") or {}
    host = parse_resolv_conf(host_resolv) if host_resolv is not None else HostResolv([], [], [])
    dns = PodDNS(list(host.nameservers), list(host.searches), list(host.options))
    kind = _dns_kind(spec.get("dnsPolicy") or "ClusterFirst", bool(spec.get("hostNetwork")))
    if kind == "none":
        dns = PodDNS()
    elif kind == "cluster":
        if cluster_dns:
            dns.servers = list(cluster_dns)
            dns.searches = _cluster_searches(pod, cluster_domain, host.searches)
            dns.options = list(DEFAULT_CLUSTER_OPTIONS)
        else:
            message = ("kubelet does not have ClusterDNS IP configured and cannot create Pod "
                       'using "ClusterFirst" policy. Falling back to "Default" policy.')
            dns.events.append(DNSEvent("MissingClusterDNS",
                                       f'pod: "{_format_pod(pod)}". {message}'))
            _host_defaults(dns, host_resolv, node_ips)
    else:
        _host_defaults(dns, host_resolv, node_ips)
    config = spec.get("dnsConfig")
    if config is not None:
        dns.servers = _omit_duplicates([*dns.servers, *(config.get("nameservers") or [])])
        dns.searches = _omit_duplicates([*dns.searches, *(config.get("searches") or [])])
        dns.options = _merge_options(dns.options, config.get("options") or [])
    _fit_nameservers(dns)
    _fit_searches(dns)
    return dns


def _dns_kind(policy: str, host_network: bool) -> str:
    if policy == "None":
        return "none"
    if policy == "Default" or (policy == "ClusterFirst" and host_network):
        return "host"
    # ClusterFirstWithHostNet, ClusterFirst off the host network, and (as the kubelet does)
    # any unknown policy, which validation rejects anyway.
    return "cluster"


def _cluster_searches(pod: Obj, cluster_domain: str, host_searches: Sequence[str]) -> list[str]:
    if not cluster_domain:
        return list(host_searches)
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    cluster = [f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]
    return _omit_duplicates([*cluster, *host_searches])


def _host_defaults(dns: PodDNS, host_resolv: str | None, node_ips: Sequence[str]) -> None:
    if host_resolv is not None:
        return
    # No resolv.conf configured: "use the nameserver on the local machine".
    dns.servers = ["::1" if ":" in ip else "127.0.0.1" for ip in node_ips] or ["127.0.0.1"]
    dns.searches = ["."]


def render_resolv_conf(dns: PodDNS, host_resolv: str | None) -> str:
    """The file containerd writes for a DNS config; an empty config copies the host's."""
    content = ""
    if dns.searches:
        content += f"search {' '.join(dns.searches)}\n"
    for server in dns.servers:
        content += f"nameserver {server}\n"
    if dns.options:
        content += f"options {' '.join(dns.options)}\n"
    if not content:
        return host_resolv or ""
    return content


def resolv_conf(pod: Obj, *, cluster_dns: Sequence[str], cluster_domain: str,
                host_resolv: str | None, node_ips: Sequence[str] = ()) -> str:
    """The pod's ``/etc/resolv.conf`` content (see :func:`pod_dns` for the events)."""
    dns = pod_dns(pod, cluster_dns=cluster_dns, cluster_domain=cluster_domain,
                  host_resolv=host_resolv, node_ips=node_ips)
    return render_resolv_conf(dns, host_resolv)


def _host_alias_entries(host_aliases: Sequence[Obj]) -> str:
    if not host_aliases:
        return ""
    lines = ["\n", HOST_ALIASES_HEADER]
    for alias in host_aliases:
        # One line per IP with all its names, tab-separated, as the kubelet writes it.
        names = "\t".join(alias.get("hostnames") or [])
        lines.append(f"{alias.get('ip', '')}\t{names}\n")
    return "".join(lines)


def etc_hosts(pod: Obj, *, pod_ips: Sequence[str], host_network_hosts: str | None,
              hostname: str, subdomain_fqdn: str | None) -> str:
    """The pod's ``/etc/hosts``.

    ``subdomain_fqdn`` is the pod's host domain ``<subdomain>.<ns>.svc.<cluster-domain>``
    (the second value of :func:`pod_hostname_and_domain`), or None/"" without a subdomain.
    hostNetwork pods get the node's hosts file (``host_network_hosts``) plus hostAliases.
    """
    spec = pod.get("spec") or {}
    aliases = spec.get("hostAliases") or []
    if spec.get("hostNetwork"):
        return (MANAGED_HOSTS_HEADER_HOST_NETWORK + (host_network_hosts or "")
                + _host_alias_entries(aliases))
    lines = [
        MANAGED_HOSTS_HEADER,
        "127.0.0.1\tlocalhost\n",
        "::1\tlocalhost ip6-localhost ip6-loopback\n",
        "fe00::0\tip6-localnet\n",
        "fe00::0\tip6-mcastprefix\n",
        "fe00::1\tip6-allnodes\n",
        "fe00::2\tip6-allrouters\n",
    ]
    for ip in pod_ips:
        if subdomain_fqdn:
            lines.append(f"{ip}\t{hostname}.{subdomain_fqdn}\t{hostname}\n")
        else:
            lines.append(f"{ip}\t{hostname}\n")
    return "".join(lines) + _host_alias_entries(aliases)


def pod_hostname_and_domain(pod: Obj, cluster_domain: str) -> tuple[str, str]:
    """The pod's short hostname and host domain (empty without ``spec.subdomain``).

    Raises ValueError when spec.hostname or spec.subdomain is not a DNS-1123 label, with
    the kubelet's wording.
    """
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    name = str(meta.get("name", ""))
    hostname = name
    if spec.get("hostname"):
        hostname = str(spec["hostname"])
        if not _is_dns1123_label(hostname):
            raise ValueError(f'pod Hostname "{hostname}" is not a valid DNS label: '
                             f"{_dns1123_label_error(hostname)}")
    if len(hostname) > HOSTNAME_MAX_LEN:
        hostname = hostname[:HOSTNAME_MAX_LEN].rstrip("-.")
        if not hostname:
            raise ValueError(f'hostname for pod "{name}" was invalid: "{hostname}"')
    domain = ""
    if spec.get("subdomain"):
        subdomain = str(spec["subdomain"])
        if not _is_dns1123_label(subdomain):
            raise ValueError(f'pod Subdomain "{subdomain}" is not a valid DNS label: '
                             f"{_dns1123_label_error(subdomain)}")
        domain = f"{subdomain}.{meta.get('namespace', '')}.svc.{cluster_domain}"
    return hostname, domain


def kernel_hostname(hostname: str, domain: str, set_hostname_as_fqdn: bool | None) -> str:
    """The UTS hostname: the FQDN when ``setHostnameAsFQDN`` and a domain are set."""
    if not set_hostname_as_fqdn or not domain:
        return hostname
    fqdn = f"{hostname}.{domain}"
    if len(fqdn) > FQDN_MAX_LEN:
        raise ValueError(
            f"failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is "
            f"too long ({FQDN_MAX_LEN} characters is the max, {len(fqdn)} characters "
            "requested)")
    return fqdn


def _is_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and _DNS1123_LABEL.match(value) is not None


def _dns1123_label_error(value: str) -> str:
    if len(value) > 63:
        return "must be no more than 63 characters"
    return ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
            "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
            "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
