"""A container's environment as the kubelet resolves it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubesmith.agent.pods.env import (
    EnvError,
    EnvSources,
    PodAddresses,
    container_env,
    env_from_services,
    service_env,
)

Obj = dict[str, Any]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CONFIGMAPS: dict[tuple[str, str], Obj] = {
    ("shop", "settings"): {"data": {"MODE": "prod", "log.level": "debug"}},
}
SECRETS: dict[tuple[str, str], Obj] = {
    ("shop", "db"): {"data": {"password": b64("s3cret"), "user": b64("admin")}},
}
SERVICES = [
    {"metadata": {"name": "kubernetes", "namespace": "default"},
     "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443}]}},
    {"metadata": {"name": "redis-primary", "namespace": "shop"},
     "spec": {"clusterIP": "10.96.3.4",
              "ports": [{"port": 6379, "protocol": "TCP"},
                        {"name": "metrics", "port": 9121, "protocol": "TCP"}]}},
    {"metadata": {"name": "headless", "namespace": "shop"},
     "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
    {"metadata": {"name": "other", "namespace": "elsewhere"},
     "spec": {"clusterIP": "10.96.9.9", "ports": [{"port": 80}]}},
]


async def get_configmap(namespace: str, name: str) -> Obj | None:
    return CONFIGMAPS.get((namespace, name))


async def get_secret(namespace: str, name: str) -> Obj | None:
    return SECRETS.get((namespace, name))


def sources(**kwargs: Any) -> EnvSources:
    return EnvSources(configmap=get_configmap, secret=get_secret, **kwargs)


def pod(container: Obj, **spec: Any) -> Obj:
    return {"metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
                         "labels": {"app": "web"}, "annotations": {"team": "blue"}},
            "spec": {"nodeName": "node-a", "serviceAccountName": "builder",
                     "containers": [container], **spec},
            "status": {}}


ADDRESSES = PodAddresses(pod_ips=["10.244.0.7"], host_ips=["192.168.1.5"])
ALLOCATABLE = {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi"}


async def resolve(container: Obj, **kwargs: Any) -> dict[str, str]:
    the_pod = pod(container, **kwargs.pop("spec", {}))
    env = await container_env(the_pod, container, sources=kwargs.pop("sources", sources()),
                              addresses=ADDRESSES, node_allocatable=ALLOCATABLE)
    return dict(env)


async def test_env_from_with_prefix_and_env_overriding_it() -> None:
    container = {"name": "app", "envFrom": [
        {"configMapRef": {"name": "settings"}, "prefix": "CFG_"},
        {"secretRef": {"name": "db"}}],
        "env": [{"name": "user", "value": "override"}]}
    assert await resolve(container) == {"CFG_MODE": "prod", "CFG_log.level": "debug",
                                        "password": "s3cret", "user": "override"}


async def test_missing_optional_sources_are_skipped() -> None:
    container = {"name": "app", "envFrom": [{"configMapRef": {"name": "nope",
                                                              "optional": True}}],
                 "env": [{"name": "A", "valueFrom": {"secretKeyRef": {
                     "name": "db", "key": "absent", "optional": True}}},
                         {"name": "B", "valueFrom": {"configMapKeyRef": {
                             "name": "nope", "key": "k", "optional": True}}}]}
    assert await resolve(container) == {}


@pytest.mark.parametrize(("env", "message"), [
    ([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}],
     'configmap "nope" not found'),
    ([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}],
     'secret "nope" not found'),
    ([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}}],
     "couldn't find key k in ConfigMap shop/settings"),
    ([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "k"}}}],
     "couldn't find key k in Secret shop/db"),
], ids=["configmap", "secret", "configmap key", "secret key"])
async def test_missing_required_sources_fail(env: list[Obj], message: str) -> None:
    with pytest.raises(EnvError) as raised:
        await resolve({"name": "app", "env": env})
    assert raised.value.message == message


async def test_missing_env_from_fails() -> None:
    with pytest.raises(EnvError, match='configmap "gone" not found'):
        await resolve({"name": "app", "envFrom": [{"configMapRef": {"name": "gone"}}]})


@pytest.mark.parametrize(("path", "value"), [
    ("metadata.name", "web-1"), ("metadata.namespace", "shop"), ("metadata.uid", "u-1"),
    ("metadata.labels['app']", "web"), ("metadata.annotations['team']", "blue"),
    ("metadata.labels['absent']", ""), ("spec.nodeName", "node-a"),
    ("spec.serviceAccountName", "builder"), ("status.hostIP", "192.168.1.5"),
    ("status.hostIPs", "192.168.1.5"), ("status.podIP", "10.244.0.7"),
    ("status.podIPs", "10.244.0.7")])
async def test_field_refs(path: str, value: str) -> None:
    container = {"name": "app", "env": [{"name": "V", "valueFrom": {
        "fieldRef": {"apiVersion": "v1", "fieldPath": path}}}]}
    assert await resolve(container) == {"V": value}


@pytest.mark.parametrize(("selector", "value"), [
    ({"resource": "limits.cpu"}, "1"),                                 # 500m rounded up
    ({"resource": "limits.cpu", "divisor": "1m"}, "500"),
    ({"resource": "requests.memory", "divisor": "1Mi"}, "64"),
    ({"resource": "limits.memory"}, str(8 * 1024 ** 3)),              # node allocatable
    ({"resource": "limits.ephemeral-storage", "divisor": "1Gi"}, "100"),
    ({"resource": "requests.cpu", "divisor": "1m", "containerName": "app"}, "250"),
])
async def test_resource_field_refs(selector: Obj, value: str) -> None:
    container = {"name": "app", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                                              "limits": {"cpu": "500m"}},
                 "env": [{"name": "V", "valueFrom": {"resourceFieldRef": selector}}]}
    assert await resolve(container) == {"V": value}


async def test_values_expand_earlier_variables_and_service_links() -> None:
    container = {"name": "app", "envFrom": [{"configMapRef": {"name": "settings"}}],
                 "env": [{"name": "URL", "value": "redis://$(REDIS_PRIMARY_SERVICE_HOST)"},
                         {"name": "MODE_COPY", "value": "$(MODE)-$$(MODE)"},
                         {"name": "LATE", "value": "$(LATER)"},
                         {"name": "LATER", "value": "x"}]}
    env = await resolve(container, sources=sources(services=lambda: SERVICES))
    assert env["URL"] == "redis://10.96.3.4"
    assert env["MODE_COPY"] == "prod-$(MODE)"
    assert env["LATE"] == "$(LATER)"          # only variables declared before are seen


async def test_service_links_and_the_kubernetes_service() -> None:
    env = await resolve({"name": "app"}, sources=sources(services=lambda: SERVICES))
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["REDIS_PRIMARY_PORT_6379_TCP"] == "tcp://10.96.3.4:6379"
    assert "OTHER_SERVICE_HOST" not in env and "HEADLESS_SERVICE_HOST" not in env
    off = await resolve({"name": "app"}, spec={"enableServiceLinks": False},
                        sources=sources(services=lambda: SERVICES))
    assert "REDIS_PRIMARY_SERVICE_HOST" not in off
    assert off["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


async def test_explicit_env_wins_over_service_variables() -> None:
    container = {"name": "app", "env": [{"name": "KUBERNETES_SERVICE_HOST",
                                         "value": "mine"}]}
    env = await container_env(pod(container), container,
                              sources=sources(services=lambda: SERVICES),
                              addresses=ADDRESSES, node_allocatable={})
    assert [v for k, v in env if k == "KUBERNETES_SERVICE_HOST"] == ["mine"]


async def test_services_not_synced_yet() -> None:
    with pytest.raises(EnvError, match="services have not yet been read"):
        await resolve({"name": "app"}, sources=sources(services=list,
                                                       services_synced=lambda: False))


def test_docker_link_variables() -> None:
    env = dict(env_from_services([SERVICES[1]]))
    assert env == {
        "REDIS_PRIMARY_SERVICE_HOST": "10.96.3.4",
        "REDIS_PRIMARY_SERVICE_PORT": "6379",
        "REDIS_PRIMARY_SERVICE_PORT_METRICS": "9121",
        "REDIS_PRIMARY_PORT": "tcp://10.96.3.4:6379",
        "REDIS_PRIMARY_PORT_6379_TCP": "tcp://10.96.3.4:6379",
        "REDIS_PRIMARY_PORT_6379_TCP_PROTO": "tcp",
        "REDIS_PRIMARY_PORT_6379_TCP_PORT": "6379",
        "REDIS_PRIMARY_PORT_6379_TCP_ADDR": "10.96.3.4",
        "REDIS_PRIMARY_PORT_9121_TCP": "tcp://10.96.3.4:9121",
        "REDIS_PRIMARY_PORT_9121_TCP_PROTO": "tcp",
        "REDIS_PRIMARY_PORT_9121_TCP_PORT": "9121",
        "REDIS_PRIMARY_PORT_9121_TCP_ADDR": "10.96.3.4",
    }


def test_service_names_starting_with_a_digit() -> None:
    env = service_env([{"metadata": {"name": "3d-render", "namespace": "ns"},
                        "spec": {"clusterIP": "10.0.0.3", "ports": [{"port": 1}]}}],
                      "ns", True)
    assert env["_3D_RENDER_SERVICE_HOST"] == "10.0.0.3"
