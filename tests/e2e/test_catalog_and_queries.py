"""The service catalog managed with the CLI (services, endpoints, regions),
and the query spellings and HTTP methods real clients send (Python-style
booleans, name+domain lookups, HEAD)."""

import pytest

from nimbus_e2e import unique


def test_catalog_management_with_cli(nimbus):
    admin = nimbus.admin_cli()
    region = admin.json("region", "create", "--description", "e2e", unique("Region"))
    svc_name = unique("nova")
    service = admin.json("service", "create", "--name", svc_name, "--description", "compute", "compute")
    assert service["type"] == "compute" and service["name"] == svc_name
    url = "http://127.0.0.1:1/compute/v2.1"
    endpoints = [admin.json("endpoint", "create", "--region", region["region"], service["id"], iface, url)
                 for iface in ("public", "internal", "admin")]
    assert {e["interface"] for e in endpoints} == {"public", "internal", "admin"}
    assert all(e["url"] == url and e["region"] == region["region"] for e in endpoints)

    listed = admin.json("endpoint", "list", "--service", service["id"])
    assert sorted(e["ID"] for e in listed) == sorted(e["id"] for e in endpoints)
    assert service["id"] in [s["ID"] for s in admin.json("service", "list")]

    # a new token carries it
    shown = admin.json("catalog", "show", svc_name)
    assert shown["type"] == "compute"

    admin.run("endpoint", "set", "--disable", endpoints[2]["id"])
    assert admin.json("endpoint", "show", endpoints[2]["id"])["enabled"] is False

    for e in endpoints:
        admin.run("endpoint", "delete", e["id"])
    admin.run("service", "delete", service["id"])
    admin.run("region", "delete", region["region"])
    assert svc_name not in [c["Name"] for c in admin.json("catalog", "list")]
    admin.fails("service", "show", service["id"])


@pytest.mark.parametrize("query, expect_admin", [
    ("?enabled=True", True), ("?enabled=true", True), ("?enabled=False", False),
    ("?name=admin&domain_id=default", True), ("?domain_id=default&name=nobody-xyz", False),
])
def test_python_style_query_values(nimbus, query, expect_admin):
    ks = nimbus.keystone()
    resp = ks.request("GET", "/users" + query, token=ks.admin_token())
    assert resp.status_code == 200, resp.text
    assert ("admin" in [u["name"] for u in resp.json()["users"]]) is expect_admin


def test_bad_query_values_are_400(nimbus):
    ks = nimbus.keystone()
    resp = ks.request("GET", "/users?enabled=maybe", token=ks.admin_token())
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == 400


def test_head_mirrors_get(nimbus):
    ks = nimbus.keystone()
    token = ks.admin_token()
    admin_id = ks.admin("GET", "/users?name=admin")["users"][0]["id"]
    for path in ("/users", f"/users/{admin_id}", "/projects", "/roles", "/domains/default",
                 "/role_assignments", "/auth/projects", "/regions", "/services", "/endpoints"):
        get = ks.request("GET", path, token=token)
        head = ks.request("HEAD", path, token=token)
        assert get.status_code == 200, (path, get.text)
        assert head.status_code == 200, (path, head.status_code)
        assert head.content == b"", path
    assert ks.request("HEAD", "/users/" + "0" * 32, token=token).status_code == 404


def test_lists_carry_links(nimbus):
    ks = nimbus.keystone()
    body = ks.admin("GET", "/users")
    assert body["links"]["self"].startswith(nimbus.identity_url + "/v3/users")
    assert "next" in body["links"] and "previous" in body["links"]
    user = body["users"][0]
    assert user["links"]["self"] == f"{nimbus.identity_url}/v3/users/{user['id']}"
