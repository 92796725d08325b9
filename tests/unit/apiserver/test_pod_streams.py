"""How the API server picks a pod's container and its node's agent, and reports the
agent's refusals (upstream's wording)."""

from __future__ import annotations

import pytest

from kubesmith.api import errors
from kubesmith.apiserver import pod_streams
from kubesmith.apiserver.pod_streams import AgentEndpoint


def pod(*containers: str, init: tuple[str, ...] = ()) -> dict[str, object]:
    return {"metadata": {"name": "web"}, "spec": {
        "containers": [{"name": c} for c in containers],
        "initContainers": [{"name": c} for c in init],
        "ephemeralContainers": [{"name": "debugger"}]}}


@pytest.mark.parametrize(("p", "requested", "expected"), [
    (pod("app"), "", "app"),
    (pod("app", "side"), "side", "side"),
    (pod("app", init=("setup",)), "setup", "setup"),
    (pod("app"), "debugger", "debugger"),
])
def test_choose_container(p: dict[str, object], requested: str, expected: str) -> None:
    assert pod_streams.choose_container(p, requested) == expected


@pytest.mark.parametrize(("p", "requested", "message"), [
    (pod("app"), "nope", "container nope is not valid for pod web"),
    (pod("app", "side"), "", "a container name must be specified for pod web, choose one "
                             "of: [app side]"),
    (pod("a", "b", init=("i",)), "", "a container name must be specified for pod web, "
                                     "choose one of: [a b] or one of the init containers: "
                                     "[i]"),
])
def test_choose_container_refusals(p: dict[str, object], requested: str,
                                   message: str) -> None:
    with pytest.raises(errors.StatusError) as caught:
        pod_streams.choose_container(p, requested)
    assert (caught.value.code, caught.value.message) == (400, message)


def test_node_endpoint_prefers_internal_ip_and_the_advertised_port() -> None:
    node = {"status": {"addresses": [{"type": "Hostname", "address": "n1"},
                                     {"type": "ExternalIP", "address": "203.0.113.5"},
                                     {"type": "InternalIP", "address": "10.0.0.5"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10251}}}}
    assert pod_streams.node_endpoint(node) == AgentEndpoint("10.0.0.5", 10251)
    assert pod_streams.node_endpoint({"status": {"addresses": [
        {"type": "Hostname", "address": "n1"}]}}) == AgentEndpoint("n1", 10250)
    assert AgentEndpoint("fd00::1", 10250).url("/healthz") == "https://[fd00::1]:10250/healthz"
    with pytest.raises(errors.StatusError):
        pod_streams.node_endpoint({"status": {}})


def test_agent_errors_keep_a_status_and_map_text() -> None:
    status = (b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound",'
              b'"message":"container \\"c\\" in pod \\"p\\" is not running","code":404}')
    kept = pod_streams._agent_error(404, status, "pods/exec", "p")
    assert (kept.code, kept.reason, kept.message) == (
        404, "NotFound", 'container "c" in pod "p" is not running')
    bad = pod_streams._agent_error(400, b"no such thing\n", "pods/log", "p")
    assert (bad.code, bad.reason, bad.message) == (400, "BadRequest", "no such thing")
    internal = pod_streams._agent_error(500, b"boom", "pods/log", "p")
    assert (internal.code, internal.reason) == (500, "InternalError")
    assert "boom" in internal.message


def test_streaming_handlers_by_subresource_and_verb() -> None:
    assert pod_streams.handler_for("log", "get") is pod_streams.pod_log
    assert pod_streams.handler_for("log", "create") is None
    for sub in ("exec", "attach", "portforward"):
        assert pod_streams.handler_for(sub, "get") is pod_streams.pod_connect
        assert pod_streams.handler_for(sub, "create") is pod_streams.pod_connect
        assert pod_streams.handler_for(sub, "delete") is None
