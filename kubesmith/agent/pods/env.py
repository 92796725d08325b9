"""A container's environment, resolved as the kubelet does (``makeEnvironmentVariables``).

Order of work, upstream's:

1. ``envFrom`` (ConfigMaps' ``data`` and Secrets' keys, with an optional ``prefix``); a
   missing object is skipped when ``optional``, else the container cannot be created
   (``configmap "x" not found`` — the kubelet's wording, CreateContainerConfigError).
2. ``env`` in declaration order, overriding (1): a ``value`` has its ``$(VAR)`` references
   expanded against the variables so far and the service variables; ``valueFrom`` reads a
   pod field (``fieldRef``), a container resource (``resourceFieldRef``, limits defaulting
   to node allocatable), or one key of a ConfigMap/Secret (a missing key is skipped when
   ``optional``, else ``couldn't find key k in ConfigMap ns/name``).
3. Service variables not set by (1) or (2): for the ``kubernetes`` Service in ``default``
   always, for every Service of the pod's namespace when ``enableServiceLinks``
   (``FOO_SERVICE_HOST``, ``FOO_SERVICE_PORT``, docker-link ``FOO_PORT_80_TCP...``).

ConfigMaps and Secrets are fetched with GET as needed (a node may only read the objects its
pods use); each is fetched once per container.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from kubesmith.agent.pods.expansion import expand, mapping_for
from kubesmith.agent.volumes.downward import container_resource_value, field_path_value
from kubesmith.agent.volumes.errors import SourceError
from kubesmith.agent.volumes.keyed import secret_data
from kubesmith.api.types import Obj

#: An async GET of a ConfigMap or Secret by (namespace, name); None when it does not exist.
ObjectGetter = Callable[[str, str], Awaitable[Obj | None]]

#: Services whose variables every pod gets, from the ``default`` namespace.
MASTER_SERVICES = frozenset({"kubernetes"})


class EnvError(Exception):
    """The environment cannot be built; ``message`` is the kubelet's error text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class EnvSources:
    """Where env values come from besides the pod itself."""

    configmap: ObjectGetter
    secret: ObjectGetter
    #: Every Service the agent knows (all namespaces), None when it does not watch them.
    services: Callable[[], Iterable[Obj]] | None = None
    #: Whether the Service cache has been filled once (before that, building env fails so
    #: ``KUBERNETES_SERVICE_HOST`` is never silently missing).
    services_synced: Callable[[], bool] = lambda: True


def _env_name(name: str) -> str:
    out = name.replace(".", "_").replace("-", "_").upper()
    return "_" + out if out[:1].isdigit() else out


def _service_ip_set(service: Obj) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP")
    return bool(ip) and ip != "None"


def env_from_services(services: Iterable[Obj]) -> list[tuple[str, str]]:
    """The variables describing ``services`` (upstream ``envvars.FromServices``)."""
    out: list[tuple[str, str]] = []
    for service in services:
        spec = service.get("spec") or {}
        ports = spec.get("ports") or []
        if not _service_ip_set(service) or not ports:
            continue
        ip = str(spec.get("clusterIP"))
        prefix = _env_name(str((service.get("metadata") or {}).get("name") or ""))
        out.append((f"{prefix}_SERVICE_HOST", ip))
        out.append((f"{prefix}_SERVICE_PORT", str(ports[0].get("port"))))
        for port in ports:
            if port.get("name"):
                out.append((f"{prefix}_SERVICE_PORT_{_env_name(str(port['name']))}",
                            str(port.get("port"))))
        for index, port in enumerate(ports):
            protocol = str(port.get("protocol") or "TCP")
            number = port.get("port")
            url = f"{protocol.lower()}://{ip}:{number}"
            if index == 0:
                out.append((f"{prefix}_PORT", url))
            base = f"{prefix}_PORT_{number}_{protocol.upper()}"
            out += [(base, url), (f"{base}_PROTO", protocol.lower()),
                    (f"{base}_PORT", str(number)), (f"{base}_ADDR", ip)]
    return out


def service_env(services: Iterable[Obj], namespace: str,
                enable_service_links: bool) -> dict[str, str]:
    """The service variables a pod in ``namespace`` sees (see the module docstring)."""
    chosen: dict[str, Obj] = {}
    for service in services:
        if not _service_ip_set(service):
            continue
        meta = service.get("metadata") or {}
        name, ns = str(meta.get("name") or ""), meta.get("namespace")
        if ns == "default" and name in MASTER_SERVICES:
            chosen.setdefault(name, service)
        elif ns == namespace and enable_service_links:
            chosen[name] = service
    # Sorted by name so the result does not depend on cache order.
    return dict(env_from_services(chosen[k] for k in sorted(chosen)))


@dataclass(frozen=True)
class PodAddresses:
    """The addresses downward-API env values may name."""

    pod_ips: Sequence[str] = ()
    host_ips: Sequence[str] = ()


def _with_addresses(pod: Obj, addresses: PodAddresses) -> Obj:
    status = dict(pod.get("status") or {})
    status["podIP"] = addresses.pod_ips[0] if addresses.pod_ips else ""
    status["podIPs"] = [{"ip": ip} for ip in addresses.pod_ips]
    status["hostIP"] = addresses.host_ips[0] if addresses.host_ips else ""
    status["hostIPs"] = [{"ip": ip} for ip in addresses.host_ips]
    return {**pod, "status": status}


class _Objects:
    """ConfigMaps and Secrets fetched for one container (each at most once)."""

    def __init__(self, namespace: str, sources: EnvSources) -> None:
        self.namespace = namespace
        self.sources = sources
        self._cache: dict[tuple[str, str], Obj | None] = {}

    async def get(self, kind: str, name: str) -> Obj | None:
        key = (kind, name)
        if key not in self._cache:
            getter = self.sources.configmap if kind == "configmap" else self.sources.secret
            self._cache[key] = await getter(self.namespace, name)
        return self._cache[key]


def _secret_values(secret: Obj) -> dict[str, str]:
    try:
        data = secret_data(secret)
    except SourceError as exc:
        raise EnvError(str(exc)) from exc
    return {k: v.decode("utf-8", "replace") for k, v in data.items()}


async def _env_from(container: Obj, objects: _Objects, env: dict[str, str]) -> None:
    for source in container.get("envFrom") or ():
        prefix = str(source.get("prefix") or "")
        for kind, ref in (("configmap", source.get("configMapRef")),
                          ("secret", source.get("secretRef"))):
            if ref is None:
                continue
            name = str(ref.get("name") or "")
            obj = await objects.get(kind, name)
            if obj is None:
                if ref.get("optional"):
                    continue
                raise EnvError(f'{kind} "{name}" not found')
            values = {k: str(v) for k, v in (obj.get("data") or {}).items()} \
                if kind == "configmap" else _secret_values(obj)
            for key, value in values.items():
                env[prefix + key] = value


async def _key_ref(kind: str, ref: Mapping[str, object], objects: _Objects) -> str | None:
    """The value of a configMapKeyRef/secretKeyRef; None to skip an optional one."""
    name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
    optional = bool(ref.get("optional"))
    obj = await objects.get(kind, name)
    if obj is None:
        if optional:
            return None
        raise EnvError(f'{kind} "{name}" not found')
    values = {k: str(v) for k, v in (obj.get("data") or {}).items()} \
        if kind == "configmap" else _secret_values(obj)
    if key not in values:
        if optional:
            return None
        label = "ConfigMap" if kind == "configmap" else "Secret"
        raise EnvError(f"couldn't find key {key} in {label} {objects.namespace}/{name}")
    return values[key]


async def _value_from(source: Mapping[str, object], pod: Obj, container: Obj,
                      objects: _Objects, addresses: PodAddresses,
                      node_allocatable: Mapping[str, object]) -> str | None:
    field_ref = source.get("fieldRef")
    resource_ref = source.get("resourceFieldRef")
    try:
        if isinstance(field_ref, Mapping):
            return field_path_value(_with_addresses(pod, addresses),
                                    str(field_ref.get("fieldPath") or ""))
        if isinstance(resource_ref, Mapping):
            selector = {**resource_ref,
                        "containerName": resource_ref.get("containerName") or
                        container.get("name")}
            return container_resource_value(selector, pod, node_allocatable)
    except SourceError as exc:
        raise EnvError(str(exc)) from exc
    cm_ref = source.get("configMapKeyRef")
    if isinstance(cm_ref, Mapping):
        return await _key_ref("configmap", cm_ref, objects)
    secret_ref = source.get("secretKeyRef")
    if isinstance(secret_ref, Mapping):
        return await _key_ref("secret", secret_ref, objects)
    return ""


async def container_env(pod: Obj, container: Obj, *, sources: EnvSources,
                        addresses: PodAddresses,
                        node_allocatable: Mapping[str, object]) -> list[tuple[str, str]]:
    """The container's environment (see the module docstring); raises :class:`EnvError`."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    namespace = str(meta.get("namespace") or "")
    services: dict[str, str] = {}
    if sources.services is not None:
        if not sources.services_synced():
            raise EnvError("services have not yet been read at least once, cannot construct "
                           "envvars")
        links = spec.get("enableServiceLinks")
        services = service_env(sources.services(), namespace, links is None or bool(links))
    objects = _Objects(namespace, sources)
    env: dict[str, str] = {}
    await _env_from(container, objects, env)
    mapping = mapping_for(env, services)
    for var in container.get("env") or ():
        name = str(var.get("name") or "")
        value = str(var.get("value") or "")
        if value:
            env[name] = expand(value, mapping)
            continue
        source = var.get("valueFrom")
        if isinstance(source, Mapping):
            found = await _value_from(source, pod, container, objects, addresses,
                                      node_allocatable)
            if found is None:
                continue
            value = found
        env[name] = value
    out = list(env.items())
    out += [(k, v) for k, v in services.items() if k not in env]
    return out
