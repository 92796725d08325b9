"""The API through the official ``kubernetes`` Python client and lightkube (both JSON)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(api_server: object) -> Iterator[client.ApiClient]:
    kubeconfig = api_server.kubeconfig  # type: ignore[attr-defined]
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def namespace(api: client.ApiClient) -> str:
    # The whole server (and its data directory) is torn down after the module.
    name = f"t-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(
        metadata=client.V1ObjectMeta(name=name)))
    return name


def _cm(name: str, labels: dict[str, str] | None = None, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels),
                              data=data)


def test_crud_and_conflicts(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(namespace, _cm("a", k="1"))
    assert created.metadata.uid and created.metadata.resource_version
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, _cm("a"))
    assert exc.value.status == 409 and "AlreadyExists" in exc.value.body

    got = core.read_namespaced_config_map("a", namespace)
    got.data["k"] = "2"
    updated = core.replace_namespaced_config_map("a", namespace, got)
    assert updated.data == {"k": "2"}
    stale = got  # still carries the old resourceVersion
    stale.data["k"] = "3"
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("a", namespace, stale)
    assert exc.value.status == 409 and "the object has been modified" in exc.value.body

    patched = core.patch_namespaced_config_map("a", namespace, {"data": {"x": "y"}})
    assert patched.data == {"k": "2", "x": "y"}
    core.delete_namespaced_config_map("a", namespace)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("a", namespace)
    assert exc.value.status == 404


def test_validation_errors_are_422_with_causes(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    bad = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "other"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c",
                                                                     image="nginx")]))))
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(namespace, bad)
    assert exc.value.status == 422
    assert "selector` does not match template `labels`" in exc.value.body


def test_pagination_and_selectors(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    for i in range(7):
        core.create_namespaced_config_map(
            namespace, _cm(f"cm-{i}", {"parity": "even" if i % 2 == 0 else "odd"}))
    first = core.list_namespaced_config_map(namespace, limit=3)
    assert len(first.items) == 3 and first.metadata._continue
    assert first.metadata.remaining_item_count == 4
    names = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=token)
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
    assert names == [f"cm-{i}" for i in range(7)]
    even = core.list_namespaced_config_map(namespace, label_selector="parity=even")
    assert [i.metadata.name for i in even.items] == ["cm-0", "cm-2", "cm-4", "cm-6"]
    by_name = core.list_namespaced_config_map(namespace, field_selector="metadata.name=cm-3")
    assert [i.metadata.name for i in by_name.items] == ["cm-3"]
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(namespace, field_selector="spec.bogus=1")
    assert exc.value.status == 400


def test_dry_run_writes_nothing(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, _cm("dry"), dry_run="All")
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("dry", namespace)
    assert exc.value.status == 404


def test_watch_from_resource_version(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    events: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for ev in w.stream(core.list_namespaced_config_map, namespace,
                           resource_version=start, timeout_seconds=10):
            events.append((ev["type"], ev["object"].metadata.name))
            if len(events) == 3:
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    core.create_namespaced_config_map(namespace, _cm("w"))
    core.patch_namespaced_config_map("w", namespace, {"data": {"a": "b"}})
    core.delete_namespaced_config_map("w", namespace)
    t.join(15)
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_service_allocation(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    svc = core.create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(type="NodePort", selector={"app": "web"},
                                  ports=[client.V1ServicePort(port=80)])))
    assert svc.spec.cluster_ip.startswith("10.")
    node_port = svc.spec.ports[0].node_port
    assert 30000 <= node_port <= 32767
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_service(namespace, client.V1Service(
            metadata=client.V1ObjectMeta(name="clash"),
            spec=client.V1ServiceSpec(type="NodePort", ports=[
                client.V1ServicePort(port=80, node_port=node_port)])))
    assert exc.value.status == 422 and "provided port is already allocated" in exc.value.body
    core.delete_namespaced_service("web", namespace)
    # The port is free again once its Service is gone.
    again = core.create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="again"),
        spec=client.V1ServiceSpec(type="NodePort", ports=[
            client.V1ServicePort(port=80, node_port=node_port)])))
    assert again.spec.ports[0].node_port == node_port


def test_lightkube_roundtrip(api_server: object, namespace: str) -> None:
    from lightkube import Client, KubeConfig
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap

    kc = KubeConfig.from_file(str(api_server.kubeconfig))  # type: ignore[attr-defined]
    lk = Client(config=kc, field_manager="lightkube-test")
    lk.create(ConfigMap(metadata=ObjectMeta(name="lk", namespace=namespace),
                        data={"a": "1"}))
    applied = lk.apply(ConfigMap(metadata=ObjectMeta(name="lk", namespace=namespace),
                                 data={"a": "2"}), force=True)
    assert applied.data == {"a": "2"}
    assert [cm.metadata.name for cm in lk.list(ConfigMap, namespace=namespace)] == ["lk"]
    lk.delete(ConfigMap, "lk", namespace=namespace)
