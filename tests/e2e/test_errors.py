"""Bad input gets a Keystone error body with the right status, never a 500:
malformed JSON, wrong types, oversized bodies, duplicates, unknown IDs."""

import pytest

from nimbus_e2e import unique


def _assert_keystone_error(resp, status):
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    body = resp.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == status, body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["title"], str) and error["title"], body


def _post_raw(ks, path, data):
    return ks.request("POST", path, token=ks.admin_token(), data=data,
                      headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("payload", [
    b'{"user": {"name": "x"',           # truncated
    b"not json at all",
    b'{"user": {"name": "x",}}',         # trailing comma
    b"\xff\xfe\x00garbage",              # not UTF-8
    b"",                                 # empty body
], ids=["truncated", "text", "trailing-comma", "binary", "empty"])
def test_malformed_json_is_400(nimbus, payload):
    _assert_keystone_error(_post_raw(nimbus.keystone(), "/users", payload), 400)


@pytest.mark.parametrize("body", [
    {"user": {"name": 123}},
    {"user": {"name": ["a"]}},
    {"user": {"name": unique("typed"), "enabled": "yes"}},
    {"user": "alice"},
    {"user": {}},
    {"users": {"name": unique("wrongkey")}},
    ["user"],
], ids=["int-name", "list-name", "string-enabled", "string-user", "no-name", "wrong-key", "array"])
def test_wrong_types_are_400(nimbus, body):
    ks = nimbus.keystone()
    _assert_keystone_error(ks.request("POST", "/users", token=ks.admin_token(), json=body), 400)


def test_malformed_auth_request_is_400(nimbus):
    ks = nimbus.keystone()
    for body in ({"auth": {}}, {"auth": {"identity": {"methods": ["password"]}}},
                 {"auth": {"identity": {"methods": "password", "password": {}}}}):
        resp = ks.request("POST", "/auth/tokens", json=body)
        _assert_keystone_error(resp, 400)
    _assert_keystone_error(_post_raw(ks, "/auth/tokens", b"{nope"), 400)


def test_oversized_body_is_413(nimbus):
    ks = nimbus.keystone()
    big = b'{"user": {"name": "big", "description": "' + b"x" * (1024 * 1024 + 10) + b'"}}'
    _assert_keystone_error(_post_raw(ks, "/users", big), 413)
    # ... also before authentication
    resp = ks.request("POST", "/auth/tokens", data=big, headers={"Content-Type": "application/json"})
    _assert_keystone_error(resp, 413)
    # the server is fine afterwards
    assert ks.request("GET", "/users", token=ks.admin_token()).status_code == 200


def test_duplicates_are_409(nimbus):
    ks = nimbus.keystone()
    name = unique("dup")
    ks.create_user(name, "Dup-pw-1")
    resp = ks.request("POST", "/users", token=ks.admin_token(),
                      json={"user": {"name": name, "password": "Dup-pw-2", "domain_id": "default"}})
    _assert_keystone_error(resp, 409)
    # the CLI reports the conflict too
    nimbus.admin_cli().fails("user", "create", "--domain", "default", name, status=409)
    # the same name in another domain is fine
    domain = ks.create_domain(unique("dupdom"))
    ks.create_user(name, "Dup-pw-3", domain_id=domain["id"])

    for kind in ("projects", "groups"):
        item = {"name": unique("dup" + kind)}
        ks.admin("POST", f"/{kind}", 201, json={kind[:-1]: item})
        _assert_keystone_error(ks.request("POST", f"/{kind}", token=ks.admin_token(), json={kind[:-1]: item}), 409)
    role = {"name": unique("duprole")}
    ks.admin("POST", "/roles", 201, json={"role": role})
    _assert_keystone_error(ks.request("POST", "/roles", token=ks.admin_token(), json={"role": role}), 409)


@pytest.mark.parametrize("path", [
    "/users/not-a-uuid", "/users/00000000000000000000000000000000", "/projects/%20",
    "/groups/..%2f..", "/roles/" + "a" * 300, "/domains/nope", "/regions/nowhere",
])
def test_unknown_ids_are_404(nimbus, path):
    ks = nimbus.keystone()
    _assert_keystone_error(ks.request("GET", path, token=ks.admin_token()), 404)


def test_unknown_route_and_method(nimbus):
    ks = nimbus.keystone()
    resp = ks.request("GET", "/no-such-collection", token=ks.admin_token())
    assert resp.status_code == 404, resp.text
    resp = ks.request("PATCH", "/auth/tokens", token=ks.admin_token(), json={})
    assert resp.status_code in (404, 405), resp.text
    assert resp.status_code < 500
