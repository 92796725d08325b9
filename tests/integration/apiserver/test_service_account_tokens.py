"""ServiceAccount tokens: `kubectl create token`, bearer authentication, TokenReview,
revocation when the ServiceAccount goes, audiences."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _as_token(server: Any, token: str, *args: str) -> Any:
    return server.kubectl_as(*args, token=token)


def _review(server: Any, token: str, audiences: list[str] | None = None) -> Any:
    spec: dict[str, Any] = {"token": token}
    if audiences:
        spec["audiences"] = audiences
    body = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                       "spec": spec})
    out = server.kubectl("create", "-f", "-", "-o", "json", input=body).stdout
    return json.loads(out)["status"]


def test_token_lifecycle(api_server: Any) -> None:
    api_server.kubectl("create", "serviceaccount", "robot")
    token = api_server.kubectl("create", "token", "robot").stdout.strip()
    assert token.count(".") == 2

    whoami = _as_token(api_server, token, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    info = json.loads(whoami.stdout)["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:robot"
    assert "system:serviceaccounts:default" in info["groups"]

    # Authenticated, but nothing grants it more than the basics (least privilege).
    denied = _as_token(api_server, token, "get", "pods")
    assert denied.returncode == 1
    assert ('User "system:serviceaccount:default:robot" cannot list resource "pods"'
            in denied.stderr)

    status = _review(api_server, token)
    assert status["authenticated"] is True
    assert status["user"]["username"] == "system:serviceaccount:default:robot"
    assert _review(api_server, token, ["some-other-audience"])["authenticated"] is False

    # Deleting the ServiceAccount revokes its tokens.
    api_server.kubectl("delete", "serviceaccount", "robot")
    gone = _as_token(api_server, token, "auth", "whoami")
    assert gone.returncode == 1 and "Unauthorized" in gone.stderr
    assert _review(api_server, token)["authenticated"] is False


def test_token_request_rules(api_server: Any) -> None:
    api_server.kubectl("create", "serviceaccount", "short")
    short = api_server.kubectl("create", "token", "short", "--duration=1m", check=False)
    assert short.returncode == 1
    assert "may not specify a duration less than 10 minutes" in short.stderr
    missing = api_server.kubectl("create", "token", "nosuch", check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr
    aud = api_server.kubectl("create", "token", "short", "--audience=vault").stdout.strip()
    assert _review(api_server, aud)["authenticated"] is False
    assert _review(api_server, aud, ["vault"])["authenticated"] is True


def test_forged_token_is_refused(api_server: Any) -> None:
    api_server.kubectl("create", "serviceaccount", "victim")
    token = api_server.kubectl("create", "token", "victim").stdout.strip()
    header, payload, signature = token.split(".")
    forged = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA"
                                                           else "BBBB")])
    assert _as_token(api_server, forged, "auth", "whoami").returncode == 1
