"""Real kubectl 1.37 bodies: what its typed-client commands send as protobuf decodes to
exactly the object it would send as JSON.

kubectl talks plain HTTP to the capture server (see conftest). For the ``create``
generators the expected object is kubectl's own ``--dry-run=client -o json`` output (the
object it would send, printed by ``encoding/json``), compared key order included; for the
reviews and token requests, which have no dry run, it is written out here.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubesmith.api.protobuf import CONTENT_TYPE, ProtobufDecoder, decode_request

pytestmark = pytest.mark.integration  # runs the real kubectl binary

BINARY_FILE = Path(__file__).parent / "testdata" / "binary.dat"

# (test id, kubectl arguments, request path the body is sent to)
CREATE_CASES = [
    ("configmap", ["create", "configmap", "x", "--from-literal=a=b", "--from-literal=c=d"],
     "/api/v1/namespaces/default/configmaps"),
    ("configmap-binary", ["create", "configmap", "bin", f"--from-file={BINARY_FILE}"],
     "/api/v1/namespaces/default/configmaps"),
    ("secret-generic", ["create", "secret", "generic", "s", "--from-literal=k=v"],
     "/api/v1/namespaces/default/secrets"),
    ("secret-empty-value", ["create", "secret", "generic", "s2", "--from-literal=k=v",
                            "--from-literal=empty=", "--type=Opaque"],
     "/api/v1/namespaces/default/secrets"),
    ("secret-docker-registry", ["create", "secret", "docker-registry", "reg",
                                "--docker-server=r.io", "--docker-username=u",
                                "--docker-password=p"],
     "/api/v1/namespaces/default/secrets"),
    ("deployment", ["create", "deployment", "web", "--image=nginx:1.25", "--replicas=3",
                    "--port=80"],
     "/apis/apps/v1/namespaces/default/deployments"),
    ("deployment-two-images", ["create", "deployment", "multi", "--image=a", "--image=b"],
     "/apis/apps/v1/namespaces/default/deployments"),
    ("service-nodeport", ["create", "service", "nodeport", "web", "--tcp=80:8080"],
     "/api/v1/namespaces/default/services"),
    ("service-named-target-port", ["create", "service", "clusterip", "named", "--tcp=80:http"],
     "/api/v1/namespaces/default/services"),
    ("job", ["create", "job", "j", "--image=busybox", "--", "echo", "hi"],
     "/apis/batch/v1/namespaces/default/jobs"),
    ("cronjob", ["create", "cronjob", "c", "--image=busybox", "--schedule=*/1 * * * *",
                 "--", "date"],
     "/apis/batch/v1/namespaces/default/cronjobs"),
    ("role", ["create", "role", "r", "--verb=get", "--resource=pods"],
     "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles"),
    ("clusterrole", ["create", "clusterrole", "cr", "--verb=get,list",
                     "--resource=pods,deployments.apps", "--resource-name=x"],
     "/apis/rbac.authorization.k8s.io/v1/clusterroles"),
    ("clusterrole-aggregated", ["create", "clusterrole", "agg",
                                "--aggregation-rule=rbac.example.com/aggregate=true"],
     "/apis/rbac.authorization.k8s.io/v1/clusterroles"),
    ("rolebinding", ["create", "rolebinding", "rb", "--role=r", "--user=bob"],
     "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"),
    ("clusterrolebinding", ["create", "clusterrolebinding", "crb", "--clusterrole=view",
                            "--user=alice", "--group=devs", "--serviceaccount=default:sa"],
     "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
    ("namespace", ["create", "namespace", "ns1"], "/api/v1/namespaces"),
    ("serviceaccount", ["create", "serviceaccount", "sa1"],
     "/api/v1/namespaces/default/serviceaccounts"),
    ("poddisruptionbudget", ["create", "poddisruptionbudget", "pdb", "--selector=app=web",
                             "--min-available=50%"],
     "/apis/policy/v1/namespaces/default/poddisruptionbudgets"),
    ("priorityclass", ["create", "priorityclass", "high", "--value=1000",
                       "--description=hi", "--preemption-policy=Never"],
     "/apis/scheduling.k8s.io/v1/priorityclasses"),
    ("quota", ["create", "quota", "q", "--hard=cpu=1,memory=1G,pods=2,requests.storage=1500Mi",
               "--scopes=BestEffort"],
     "/api/v1/namespaces/default/resourcequotas"),
    ("ingress", ["create", "ingress", "ing", "--rule=foo.com/bar*=svc:8080,tls=my-cert",
                 "--class=nginx", "--annotation=a=b"],
     "/apis/networking.k8s.io/v1/namespaces/default/ingresses"),
]

CRONJOB_PATH = "/apis/batch/v1/namespaces/default/cronjobs/nightly"
CRONJOB: dict[str, Any] = {
    "kind": "CronJob", "apiVersion": "batch/v1",
    "metadata": {"name": "nightly", "namespace": "default", "uid": "cj-uid"},
    "spec": {"schedule": "0 3 * * *", "jobTemplate": {
        "metadata": {"labels": {"team": "data"}},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 30, "template": {"spec": {
            "containers": [{
                "name": "c", "image": "busybox", "env": [{"name": "A", "value": "1"}],
                "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                "livenessProbe": {"httpGet": {"path": "/", "port": "http"},
                                  "periodSeconds": 3}}],
            "restartPolicy": "Never",
            "securityContext": {"runAsUser": 0, "supplementalGroups": [1, 2, 3]},
            "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 5}]}}}}},
}

CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests/csr1"
CSR: dict[str, Any] = {
    "kind": "CertificateSigningRequest", "apiVersion": "certificates.k8s.io/v1",
    "metadata": {"name": "csr1", "uid": "u-1", "resourceVersion": "7",
                 "creationTimestamp": "2026-01-02T03:04:05Z"},
    "spec": {"request": base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----\n").decode(),
             "signerName": "kubernetes.io/kube-apiserver-client", "expirationSeconds": 600,
             "usages": ["client auth"], "username": "alice", "groups": ["g"],
             "extra": {"x": ["1", "2"]}},
}


def _protobuf_write(run: Any, path: str) -> bytes:
    """The one protobuf write kubectl made, checked to be protobuf and to ``path``."""
    assert run.returncode == 0, run.stderr
    writes = run.writes
    assert len(writes) == 1, [w.path for w in writes]
    write = writes[0]
    assert write.path.split("?")[0] == path
    assert write.content_type == CONTENT_TYPE
    assert write.accept == f"{CONTENT_TYPE},application/json"
    assert write.body.startswith(b"k8s\x00")
    body: bytes = write.body
    return body


def _dry_run(capture_server: Any, args: list[str]) -> dict[str, Any]:
    """kubectl's JSON rendering of the object it would send (flags before any ``--``)."""
    run = capture_server.kubectl_run(args[0], "--dry-run=client", "-o", "json", *args[1:])
    assert run.returncode == 0, run.stderr
    assert run.writes == []
    expected: dict[str, Any] = orjson.loads(run.stdout)
    return expected


def _assert_same_json(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert got == expected
    # encoding/json's field order too, not only the same content
    assert orjson.dumps(got) == orjson.dumps(expected)


@pytest.mark.parametrize(("args", "path"), [pytest.param(a, p, id=i) for i, a, p in CREATE_CASES])
def test_create_generators_match_kubectl_json(capture_server: Any, decoder: ProtobufDecoder,
                                              args: list[str], path: str) -> None:
    body = _protobuf_write(capture_server.kubectl_run(*args), path)
    _assert_same_json(decode_request(body, schema=decoder), _dry_run(capture_server, args))


def test_create_job_from_cronjob(capture_server: Any, decoder: ProtobufDecoder) -> None:
    """ownerReferences with pointer bools, resource quantities, an IntOrString port name,
    pointers set to zero (backoffLimit, runAsUser) and repeated int64s."""
    capture_server.objects[CRONJOB_PATH] = CRONJOB
    args = ["create", "job", "j2", "--from=cronjob/nightly"]
    body = _protobuf_write(capture_server.kubectl_run(*args),
                           "/apis/batch/v1/namespaces/default/jobs")
    got = decode_request(body, schema=decoder)
    _assert_same_json(got, _dry_run(capture_server, args))
    pod = got["spec"]["template"]["spec"]
    assert got["spec"]["backoffLimit"] == 0
    assert pod["securityContext"] == {"runAsUser": 0, "supplementalGroups": [1, 2, 3]}
    assert got["metadata"]["ownerReferences"][0]["controller"] is True


@pytest.mark.parametrize("verb", ["approve", "deny"])
def test_certificate_approval_times_bytes_and_extra(capture_server: Any,
                                                     decoder: ProtobufDecoder,
                                                     verb: str) -> None:
    """``kubectl certificate approve`` PUTs the CSR back with a fresh condition: metav1.Time
    both set and zero, []byte, and a map of a named slice type (ExtraValue)."""
    capture_server.objects[CSR_PATH] = CSR
    before = int(time.time())
    body = _protobuf_write(capture_server.kubectl_run("certificate", verb, "csr1"),
                           CSR_PATH + "/approval")
    got = decode_request(body, schema=decoder)
    condition = got["status"]["conditions"][0]
    stamp = condition.pop("lastUpdateTime")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    stamped = time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before - 2 <= stamped <= time.time() + 2
    word = "approved" if verb == "approve" else "denied"
    assert got == {
        **CSR,
        "status": {"conditions": [{
            "type": "Approved" if verb == "approve" else "Denied", "status": "True",
            "reason": f"Kubectl{verb.capitalize()}",
            "message": f"This CSR was {word} by kubectl certificate {verb}.",
            "lastTransitionTime": None}]},
    }


REVIEW_CASES = [
    ("can-i", ["auth", "can-i", "get", "pods"],
     "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
     {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
      "metadata": {},
      "spec": {"resourceAttributes": {"namespace": "default", "verb": "get",
                                      "resource": "pods"}},
      "status": {"allowed": False}}),
    ("can-i-subresource", ["auth", "can-i", "create", "deployments.apps",
                           "--subresource=scale"],
     "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
     {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
      "metadata": {},
      "spec": {"resourceAttributes": {"namespace": "default", "verb": "create",
                                      "group": "apps", "resource": "deployments",
                                      "subresource": "scale"}},
      "status": {"allowed": False}}),
    ("can-i-list", ["auth", "can-i", "--list"],
     "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
     {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
      "metadata": {}, "spec": {"namespace": "default"},
      "status": {"resourceRules": None, "nonResourceRules": None, "incomplete": False}}),
    ("whoami", ["auth", "whoami"], "/apis/authentication.k8s.io/v1/selfsubjectreviews",
     {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
      "metadata": {}, "status": {"userInfo": {}}}),
    ("token", ["create", "token", "default"],
     "/api/v1/namespaces/default/serviceaccounts/default/token",
     {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
      "spec": {"audiences": None, "expirationSeconds": None, "boundObjectRef": None},
      "status": {"token": "", "expirationTimestamp": None}}),
    ("token-duration-audiences", ["create", "token", "default", "--duration=1h",
                                  "--audience=a", "--audience=b"],
     "/api/v1/namespaces/default/serviceaccounts/default/token",
     {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
      "spec": {"audiences": ["a", "b"], "expirationSeconds": 3600, "boundObjectRef": None},
      "status": {"token": "", "expirationTimestamp": None}}),
    ("token-bound-object", ["create", "token", "default", "--bound-object-kind=Pod",
                            "--bound-object-name=p", "--bound-object-uid=1234"],
     "/api/v1/namespaces/default/serviceaccounts/default/token",
     {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
      "spec": {"audiences": None, "expirationSeconds": None,
               "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p",
                                  "uid": "1234"}},
      "status": {"token": "", "expirationTimestamp": None}}),
]


@pytest.mark.parametrize(("args", "path", "expected"),
                         [pytest.param(a, p, e, id=i) for i, a, p, e in REVIEW_CASES])
def test_reviews_and_token_requests(capture_server: Any, decoder: ProtobufDecoder,
                                    args: list[str], path: str,
                                    expected: dict[str, Any]) -> None:
    """No dry run for these: the expected objects are what encoding/json writes for them
    (non-omitempty zero fields such as ``allowed: false`` and ``audiences: null`` kept)."""
    body = _protobuf_write(capture_server.kubectl_run(*args), path)
    _assert_same_json(decode_request(body, schema=decoder), expected)
