"""OpenAPI documents: v2 and v3 shapes, caching headers, custom resources, and real kubectl
(api-resources, explain) against a throwaway server that serves only these documents."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from kubesmith.api.errors import StatusError
from kubesmith.api.registry import Registry
from kubesmith.api.resource_types import ResourceType
from kubesmith.apiserver.discovery import Discovery, etag_of
from kubesmith.apiserver.openapi import OpenAPI, custom_definition_name

PROTOBUF_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
CRONTAB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "CronTab runs a command on a schedule.",
    "properties": {
        "spec": {
            "type": "object",
            "description": "The desired schedule.",
            "properties": {
                "cronSpec": {"type": "string", "description": "Five cron fields."},
                "replicas": {"type": "integer", "nullable": True},
            },
        },
    },
}


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    return OpenAPI(Registry())


@pytest.fixture(scope="module")
def v2(openapi: OpenAPI) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(openapi.v2_document().body)
    return result


def _v3(openapi: OpenAPI, key: str) -> dict[str, Any]:
    doc = openapi.v3_document(key)
    assert doc is not None
    result: dict[str, Any] = orjson.loads(doc.body)
    return result


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _patch_ops(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        if "patch" in item:
            yield path, item["patch"]


# -- v2 -------------------------------------------------------------------------------


def test_v2_document_basics(v2: dict[str, Any]) -> None:
    assert v2["swagger"] == "2.0"
    assert v2["info"] == {"title": "Kubernetes", "version": "v1.37.0"}
    deployment = v2["definitions"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["type"] == "object"
    assert deployment["properties"]["kind"] == {
        "description": deployment["properties"]["kind"]["description"], "type": "string"}
    assert deployment["properties"]["spec"]["$ref"] == \
        "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"


def test_v2_definitions_are_openapi_not_json_schema(v2: dict[str, Any]) -> None:
    for node in _walk(v2["definitions"]):
        assert not isinstance(node.get("type"), list), node
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.startswith("#/definitions/")
            assert ref.removeprefix("#/definitions/") in v2["definitions"]


def test_v2_int_or_string_and_quantity(v2: dict[str, Any]) -> None:
    assert v2["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "type": "string", "format": "int-or-string"}
    assert v2["definitions"]["io.k8s.apimachinery.pkg.api.resource.Quantity"] == {
        "type": "string"}


def test_v2_paths(v2: dict[str, Any]) -> None:
    item = v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item["patch"]
    assert patch["operationId"] == "patchAppsV1NamespacedDeployment"
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert {p["name"] for p in patch["parameters"]} >= {"body", "fieldValidation", "force"}
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps", "version": "v1", "kind": "Deployment"}
    assert patch["responses"]["200"]["schema"] == {
        "$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"}
    assert [p["name"] for p in item["parameters"]] == ["name", "namespace", "pretty"]
    listing = v2["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"]
    assert listing["operationId"] == "listCoreV1NamespacedPod"
    assert listing["x-kubernetes-action"] == "list"
    assert listing["responses"]["200"]["schema"] == {
        "$ref": "#/definitions/io.k8s.api.core.v1.PodList"}
    assert "/api/v1/nodes/{name}" in v2["paths"]
    assert "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" in v2["paths"]


def test_v2_respond(openapi: OpenAPI) -> None:
    reply = openapi.respond("/openapi/v2", accept="application/json")
    assert reply is not None
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["ETag"] == f'"{etag_of(reply.body)}"'
    cached = openapi.respond("/openapi/v2", if_none_match=reply.headers["ETag"])
    assert cached is not None
    assert cached.status == 304
    wildcard = openapi.respond("/openapi/v2", accept="*/*")
    assert wildcard is not None
    assert wildcard.headers["Content-Type"] == "application/json"
    with pytest.raises(StatusError) as caught:
        openapi.respond("/openapi/v2", accept="text/html")
    assert caught.value.code == 406


def test_v2_respond_protobuf(openapi: OpenAPI) -> None:
    reply = openapi.respond("/openapi/v2", accept=PROTOBUF_ACCEPT)
    assert reply is not None
    assert reply.status == 200
    assert reply.headers["Content-Type"] == \
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert reply.headers["Vary"] == "Accept"
    # Same ETag as the JSON form, as kube-openapi does: Vary keeps caches apart.
    assert reply.headers["ETag"] == openapi.v2_document().quoted_etag
    assert not reply.body.startswith(b"{")


# -- v2 protobuf ----------------------------------------------------------------------


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """A protobuf message's (field number, value) pairs; enough of the wire format to
    check the encoder (varint and length-delimited fields only, fixed64 as raw bytes)."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0

    def varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while pos < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            out.append((field, varint()))
        elif wire == 2:
            length = varint()
            out.append((field, data[pos:pos + length]))
            pos += length
        elif wire == 1:
            out.append((field, data[pos:pos + 8]))
            pos += 8
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    return out


def _named_entries(message: bytes, field: int) -> dict[str, bytes]:
    """gnostic's repeated ``Named*`` pairs under ``field``: name -> value bytes."""
    entries: dict[str, bytes] = {}
    for number, value in _fields(message):
        if number == field:
            assert isinstance(value, bytes)
            pair = dict(_fields(value))
            name, body = pair[1], pair.get(2, b"")
            assert isinstance(name, bytes)
            assert isinstance(body, bytes)
            entries[name.decode()] = body
    return entries


def _one(message: bytes, field: int) -> bytes:
    (value,) = [v for n, v in _fields(message) if n == field]
    assert isinstance(value, bytes)
    return value


def test_v2_protobuf_document(openapi: OpenAPI) -> None:
    data = openapi.v2_protobuf_document().body
    assert _one(data, 1) == b"2.0"  # Document.swagger
    definitions = _named_entries(_one(data, 9), 1)
    assert set(definitions) == set(orjson.loads(openapi.v2_document().body)["definitions"])
    deployment = definitions["io.k8s.api.apps.v1.Deployment"]
    extensions = _named_entries(deployment, 31)  # Schema.vendor_extension
    gvk_yaml = _one(extensions["x-kubernetes-group-version-kind"], 2)  # Any.yaml
    assert orjson.loads(gvk_yaml) == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    properties = _named_entries(_one(deployment, 25), 1)  # Schema.properties
    assert _one(properties["spec"], 1) == b"#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    replicas = _named_entries(_one(definitions["io.k8s.api.apps.v1.DeploymentSpec"], 25),
                              1)["replicas"]
    assert _one(_one(replicas, 22), 1) == b"integer"  # Schema.type -> TypeItem.value
    assert _one(replicas, 2) == b"int32"  # Schema.format

    paths = _named_entries(_one(data, 8), 2)  # Document.paths -> Paths.path
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = _one(item, 8)  # PathItem.patch
    assert _one(patch, 5) == b"patchAppsV1NamespacedDeployment"  # Operation.operation_id
    consumes = [v for n, v in _fields(patch) if n == 7]
    assert b"application/strategic-merge-patch+json" in consumes
    query_names = []
    for number, value in _fields(patch):
        if number == 8:  # Operation.parameters -> ParametersItem.parameter
            assert isinstance(value, bytes)
            parameter = _one(value, 1)
            non_body = [v for n, v in _fields(parameter) if n == 2]
            if non_body:
                assert isinstance(non_body[0], bytes)
                query_names.append(_one(_one(non_body[0], 3), 4))  # QueryParameter.name
    assert b"fieldValidation" in query_names
    op_extensions = _named_entries(patch, 13)
    assert orjson.loads(_one(op_extensions["x-kubernetes-group-version-kind"], 2)) == {
        "group": "apps", "version": "v1", "kind": "Deployment"}


# -- v3 -------------------------------------------------------------------------------


def test_v3_index(openapi: OpenAPI) -> None:
    index = orjson.loads(openapi.v3_index().body)
    paths = index["paths"]
    assert set(paths) >= {"api/v1", "apis/apps/v1", "apis/autoscaling/v1",
                          "apis/autoscaling/v2", "apis/rbac.authorization.k8s.io/v1"}
    for key, entry in paths.items():
        doc = openapi.v3_document(key)
        assert doc is not None
        assert entry == {"serverRelativeURL": f"/openapi/v3/{key}?hash={doc.etag}"}


def test_v3_document_shape(openapi: OpenAPI) -> None:
    doc = _v3(openapi, "apis/apps/v1")
    assert doc["openapi"] == "3.0.0"
    schemas = doc["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    replicas = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]
    assert replicas == {"description": replicas["description"], "format": "int32",
                        "type": "integer"}
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["oneOf"] == [
        {"type": "integer"}, {"type": "string"}]
    # Only what the group-version's operations reach is published.
    assert "io.k8s.api.batch.v1.Job" not in schemas
    for node in _walk(doc):
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_v3_every_patch_has_field_validation_and_gvk(openapi: OpenAPI) -> None:
    for key in orjson.loads(openapi.v3_index().body)["paths"]:
        for path, op in _patch_ops(_v3(openapi, key)):
            if op["x-kubernetes-action"] == "connect":  # proxy: not an object write
                continue
            names = [p["name"] for p in op["parameters"]]
            assert "fieldValidation" in names, path
            assert "x-kubernetes-group-version-kind" in op, path
            assert "application/strategic-merge-patch+json" in op["requestBody"]["content"]


def test_v3_subresource_operations(openapi: OpenAPI) -> None:
    doc = _v3(openapi, "apis/apps/v1")
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["get"]["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert scale["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"}
    status = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]
    assert status["patch"]["operationId"] == "patchAppsV1NamespacedDeploymentStatus"
    core = _v3(openapi, "api/v1")
    eviction = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
    assert eviction["x-kubernetes-group-version-kind"] == {
        "group": "policy", "version": "v1", "kind": "Eviction"}
    exec_path = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/exec"]
    assert exec_path["get"]["x-kubernetes-action"] == "connect"
    assert "/api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}" in core["paths"]


def test_v3_respond_caching(openapi: OpenAPI) -> None:
    doc = openapi.v3_document("apis/apps/v1")
    assert doc is not None
    hashed = openapi.respond("/openapi/v3/apis/apps/v1", {"hash": doc.etag},
                             "application/json")
    assert hashed is not None
    assert hashed.status == 200
    assert hashed.headers["Cache-Control"] == "public, immutable"
    assert hashed.headers["Vary"] == "Accept"
    assert hashed.headers["ETag"] == doc.quoted_etag
    assert hashed.headers["Expires"].endswith(" GMT")
    plain = openapi.respond("/openapi/v3/apis/apps/v1")
    assert plain is not None
    assert "Cache-Control" not in plain.headers
    stale = openapi.respond("/openapi/v3/apis/apps/v1", {"hash": "0BAD"})
    assert stale is not None
    assert stale.status == 301
    assert stale.headers["Location"] == f"/openapi/v3/apis/apps/v1?hash={doc.etag}"
    revalidated = openapi.respond("/openapi/v3/apis/apps/v1", {}, None, doc.quoted_etag)
    assert revalidated is not None
    assert revalidated.status == 304
    index = openapi.respond("/openapi/v3", {}, "application/json, */*")
    assert index is not None
    assert index.headers["ETag"] == openapi.v3_index().quoted_etag
    assert openapi.respond("/openapi/v3/apis/nope/v1") is None
    assert openapi.respond("/openapi/v4") is None


# -- custom resources -----------------------------------------------------------------


def test_custom_definition_name() -> None:
    assert custom_definition_name("stable.example.com", "v1", "CronTab") == \
        "com.example.stable.v1.CronTab"


def test_custom_resource_published_and_removed() -> None:
    registry = Registry()
    openapi = OpenAPI(registry)
    before = openapi.v3_index().etag
    openapi.add_custom_resource("stable.example.com", "v1", "CronTab", "crontabs", True,
                                CRONTAB_SCHEMA, subresources=("status",))
    after = openapi.v3_index()
    assert after.etag != before
    openapi.add_custom_resource("stable.example.com", "v1", "CronTab", "crontabs", True,
                                dict(CRONTAB_SCHEMA), subresources=("status",))
    assert openapi.v3_index() is after  # an identical re-publish changes nothing

    v3 = _v3(openapi, "apis/stable.example.com/v1")
    schema = v3["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}]
    assert schema["properties"]["spec"]["properties"]["replicas"]["nullable"] is True
    assert schema["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert schema["properties"]["apiVersion"]["type"] == "string"
    assert "com.example.stable.v1.CronTabList" in v3["components"]["schemas"]
    patch = v3["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"][
        "patch"]
    # No strategic merge patch for custom resources: kubectl falls back to a merge patch.
    assert set(patch["requestBody"]["content"]) == {
        "application/apply-patch+yaml", "application/json-patch+json",
        "application/merge-patch+json"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/status" in \
        v3["paths"]

    v2 = orjson.loads(openapi.v2_document().body)
    v2_schema = v2["definitions"]["com.example.stable.v1.CronTab"]
    assert "nullable" not in v2_schema["properties"]["spec"]["properties"]["replicas"]
    assert v2_schema["properties"]["metadata"]["$ref"] == \
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

    openapi.remove_custom_resource("stable.example.com", "v1", "crontabs")
    assert openapi.v3_document("apis/stable.example.com/v1") is None
    assert "com.example.stable.v1.CronTab" not in orjson.loads(
        openapi.v2_document().body)["definitions"]
    assert openapi.v3_index().etag == before


def test_rebuilt_when_registry_changes() -> None:
    registry = Registry()
    openapi = OpenAPI(registry)
    first = openapi.v3_index()
    assert openapi.v3_index() is first
    registry.remove("batch", "v1", "cronjobs")
    assert openapi.v3_index() is not first
    paths = _v3(openapi, "apis/batch/v1")["paths"]
    assert not any("cronjobs" in p for p in paths)


# -- real kubectl ---------------------------------------------------------------------


def _kubectl() -> str | None:
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else shutil.which("kubectl")


@pytest.fixture
async def documents_server(tmp_path: Path) -> AsyncIterator[str]:
    """Plain-HTTP server on 127.0.0.1 serving only discovery and OpenAPI documents."""
    registry = Registry()
    registry.add(ResourceType("stable.example.com", "v1", "CronTab", "crontabs", True,
                              ("ct",), ("all",), ("status",)))
    discovery = Discovery(registry)
    openapi = OpenAPI(registry)
    openapi.add_custom_resource("stable.example.com", "v1", "CronTab", "crontabs", True,
                                CRONTAB_SCHEMA, subresources=("status",))

    async def handle(request: web.Request) -> web.Response:
        accept = request.headers.get("Accept")
        inm = request.headers.get("If-None-Match")
        try:
            reply = discovery.respond(request.path, accept, inm) or openapi.respond(
                request.path, dict(request.query), accept, inm)
        except StatusError as exc:
            return web.json_response(exc.to_status(), status=exc.code)
        if reply is None:
            return web.Response(status=404, text="404 page not found\n")
        headers = dict(reply.headers)
        content_type = headers.pop("Content-Type", None)
        response = web.Response(status=reply.status, body=reply.body, headers=headers)
        if content_type:
            response.headers["Content-Type"] = content_type
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _run_kubectl(server: str, tmp_path: Path, *args: str) -> str:
    kubectl = _kubectl()
    if kubectl is None:
        pytest.fail("kubectl is not installed: run scripts/install-deps.sh")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {server}\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n")
    proc = await asyncio.create_subprocess_exec(
        kubectl, f"--kubeconfig={kubeconfig}", f"--cache-dir={tmp_path / 'cache'}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    return stdout.decode()


@pytest.mark.integration
async def test_kubectl_api_resources(documents_server: str, tmp_path: Path) -> None:
    out = await _run_kubectl(documents_server, tmp_path, "api-resources")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert rows["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["customresourcedefinitions"][1] == "crd,crds"
    assert rows["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert rows["crontabs"] == ["crontabs", "ct", "stable.example.com/v1", "true", "CronTab"]
    # Served from kubectl's disk cache after a 304 revalidation.
    again = await _run_kubectl(documents_server, tmp_path, "api-resources")
    assert again == out


@pytest.mark.integration
async def test_kubectl_explain(documents_server: str, tmp_path: Path) -> None:
    out = await _run_kubectl(documents_server, tmp_path, "explain",
                             "deployment.spec.replicas")
    assert "KIND:       Deployment" in out
    assert "FIELD: replicas <integer>" in out
    assert "Number of desired pods." in out
    v2 = await _run_kubectl(documents_server, tmp_path, "explain",
                            "deployment.spec.replicas", "--output=plaintext-openapiv2")
    assert "FIELD:    replicas <integer>" in v2
    assert "Number of desired pods." in v2
    custom = await _run_kubectl(documents_server, tmp_path, "explain", "ct.spec")
    assert "KIND:       CronTab" in custom
    assert "cronSpec\t<string>" in custom
    assert "Five cron fields." in custom
