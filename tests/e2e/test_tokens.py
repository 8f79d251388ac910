"""Token lifecycle over plain HTTP (POST/GET/HEAD/DELETE /v3/auth/tokens) and
the events that must invalidate a token: revocation, a disabled user, a
changed password, expiry."""

import time
from datetime import datetime, timezone

from nimbus_e2e import unique


def _member(ks, prefix="tok"):
    """A fresh user with role member on a fresh project."""
    name, password = unique(prefix), "Pw-" + unique("secret")
    project = ks.create_project(unique(prefix + "proj"))
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    return user, password, project


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_token_issue_validate_revoke(nimbus):
    ks = nimbus.keystone()
    user, password, project = _member(ks)

    resp = ks.authenticate(user["name"], password, project_id=project["id"])
    assert resp.status_code == 201, resp.text
    token = resp.headers["X-Subject-Token"]
    body = resp.json()["token"]
    assert body["user"]["id"] == user["id"] and body["project"]["id"] == project["id"]
    assert body["methods"] == ["password"]
    assert {"member", "reader"} <= {r["name"] for r in body["roles"]}
    assert any(s["type"] == "identity" for s in body["catalog"])
    expires = _parse_time(body["expires_at"])
    lifetime = (expires - datetime.now(timezone.utc)).total_seconds()
    assert 3000 < lifetime <= 3700, body["expires_at"]

    # the token works, and validates (by an admin, and by itself)
    assert ks.request("GET", "/auth/projects", token=token).status_code == 200
    admin = ks.admin_token()
    resp = ks.request("GET", "/auth/tokens", token=admin, headers={"X-Subject-Token": token})
    assert resp.status_code == 200, resp.text
    assert resp.json()["token"]["user"]["id"] == user["id"]
    assert resp.headers.get("X-Subject-Token") == token
    assert ks.request("HEAD", "/auth/tokens", token=admin, headers={"X-Subject-Token": token}).status_code == 200
    assert ks.request("GET", "/auth/tokens", token=token, headers={"X-Subject-Token": token}).status_code == 200

    # revoke it
    resp = ks.request("DELETE", "/auth/tokens", token=admin, headers={"X-Subject-Token": token})
    assert resp.status_code == 204, resp.text
    resp = ks.request("GET", "/auth/tokens", token=admin, headers={"X-Subject-Token": token})
    assert resp.status_code == 404, resp.text
    assert resp.json()["error"]["code"] == 404
    resp = ks.request("GET", "/auth/projects", token=token)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == 401
    # other tokens are unaffected
    assert ks.request("GET", "/auth/projects", token=admin).status_code == 200


def test_user_can_revoke_own_token_and_logs_in_again(nimbus):
    ks = nimbus.keystone()
    user, password, project = _member(ks)
    token = ks.token(user["name"], password, project_id=project["id"])
    resp = ks.request("DELETE", "/auth/tokens", token=token, headers={"X-Subject-Token": token})
    assert resp.status_code == 204, resp.text
    assert ks.request("GET", "/auth/projects", token=token).status_code == 401
    again = ks.token(user["name"], password, project_id=project["id"])
    assert again != token
    assert ks.request("GET", "/auth/projects", token=again).status_code == 200


def test_missing_or_bogus_token_is_401(nimbus):
    ks = nimbus.keystone()
    for token in (None, "bogus", "gAAAAA" + "x" * 180):
        resp = ks.request("GET", "/users", token=token)
        assert resp.status_code == 401, (token, resp.status_code, resp.text)
        assert resp.json()["error"]["code"] == 401
    resp = ks.request("GET", "/auth/tokens", token=ks.admin_token(), headers={"X-Subject-Token": "bogus"})
    assert resp.status_code == 404, resp.text


def test_wrong_password_is_401(nimbus):
    ks = nimbus.keystone()
    user, password, project = _member(ks)
    for name, pw in ((user["name"], password + "x"), (unique("nobody"), password)):
        resp = ks.authenticate(name, pw, project_id=project["id"])
        assert resp.status_code == 401, resp.text
        assert "X-Subject-Token" not in resp.headers
        assert resp.json()["error"]["code"] == 401


def test_disabled_user_token_is_rejected(nimbus):
    ks = nimbus.keystone()
    user, password, project = _member(ks, "dis")
    token = ks.token(user["name"], password, project_id=project["id"])
    assert ks.request("GET", "/auth/projects", token=token).status_code == 200

    nimbus.admin_cli().run("user", "set", "--disable", user["id"])
    assert ks.request("GET", "/auth/projects", token=token).status_code == 401
    assert ks.authenticate(user["name"], password, project_id=project["id"]).status_code == 401

    nimbus.admin_cli().run("user", "set", "--enable", user["id"])
    # the old token stays invalid; a new login works
    assert ks.request("GET", "/auth/projects", token=token).status_code == 401
    fresh = ks.token(user["name"], password, project_id=project["id"])
    assert ks.request("GET", "/auth/projects", token=fresh).status_code == 200


def test_password_change_invalidates_tokens(nimbus):
    ks = nimbus.keystone()
    user, password, project = _member(ks, "pwc")
    token = ks.token(user["name"], password, project_id=project["id"])
    assert ks.request("GET", "/auth/projects", token=token).status_code == 200

    new_password = "New-" + unique("pw")
    nimbus.admin_cli().run("user", "set", "--password", new_password, user["id"])
    assert ks.request("GET", "/auth/projects", token=token).status_code == 401
    assert ks.authenticate(user["name"], password, project_id=project["id"]).status_code == 401
    token2 = ks.token(user["name"], new_password, project_id=project["id"])

    # the user changes it herself: POST /v3/users/{id}/password
    newer = "Newer-" + unique("pw")
    resp = ks.request("POST", f"/users/{user['id']}/password", token=token2,
                      json={"user": {"original_password": new_password, "password": newer}})
    assert resp.status_code == 204, resp.text
    assert ks.request("GET", "/auth/projects", token=token2).status_code == 401
    assert ks.token(user["name"], newer, project_id=project["id"])


def test_expired_token_is_rejected(start_server):
    server = start_server("short-tokens", "--token-expiration", "2")
    ks = server.keystone()
    token = ks.admin_token()
    body = ks.request("GET", "/auth/tokens", token=token, headers={"X-Subject-Token": token}).json()["token"]
    lifetime = (_parse_time(body["expires_at"]) - _parse_time(body["issued_at"])).total_seconds()
    assert 1 <= lifetime <= 3, body
    assert ks.request("GET", "/auth/projects", token=token).status_code == 200

    time.sleep(3)
    resp = ks.request("GET", "/auth/projects", token=token)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == 401
    fresh = ks.admin_token(fresh=True)
    assert ks.request("GET", "/auth/tokens", token=fresh, headers={"X-Subject-Token": token}).status_code == 404
