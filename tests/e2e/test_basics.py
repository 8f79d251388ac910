"""The server as a user first meets it: health, version discovery, the
clouds.yaml it writes, the service catalog, graceful shutdown."""

import time

import requests
import yaml

from nimbus_e2e import ADMIN_PASSWORD


def test_healthz(nimbus):
    resp = requests.get(nimbus.url + "/healthz", timeout=10)
    assert resp.status_code == 200


def test_identity_version_discovery(nimbus):
    resp = requests.get(nimbus.identity_url, headers={"Accept": "application/json"}, timeout=10)
    assert resp.status_code == 300, resp.text
    values = resp.json()["versions"]["values"]
    v3 = [v for v in values if v["id"].startswith("v3")]
    assert v3, values
    assert v3[0]["status"] in ("stable", "CURRENT", "current")
    selfs = [link["href"] for link in v3[0]["links"] if link["rel"] == "self"]
    assert selfs and selfs[0].rstrip("/") == nimbus.identity_url + "/v3"

    resp = requests.get(nimbus.identity_url + "/v3", headers={"Accept": "application/json"}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"]["id"].startswith("v3")


def test_clouds_yaml_works_with_openstack_cli(nimbus):
    clouds = yaml.safe_load(nimbus.clouds_yaml.read_text())
    cloud = clouds["clouds"]["nimbus"]
    assert cloud["auth"]["auth_url"].rstrip("/") == nimbus.identity_url
    assert cloud["auth"]["username"] == "admin"
    assert cloud["auth"]["password"] == ADMIN_PASSWORD

    token = nimbus.admin_cli().json("token", "issue")
    assert token["id"] and token["user_id"] and token["project_id"]
    project = nimbus.admin_cli().json("project", "show", "admin")
    assert token["project_id"] == project["id"]
    user = nimbus.admin_cli().json("user", "show", "admin")
    assert token["user_id"] == user["id"]


def test_catalog_lists_identity_at_public_url(nimbus):
    catalog = nimbus.admin_cli().json("catalog", "list")
    identity = [entry for entry in catalog if entry["Type"] == "identity"]
    assert len(identity) == 1, catalog
    endpoints = identity[0]["Endpoints"]
    urls = [e["url"] for e in endpoints] if isinstance(endpoints, list) else [endpoints]
    assert any(nimbus.identity_url in str(u) for u in urls), endpoints

    regions = [r["Region"] for r in nimbus.admin_cli().json("region", "list")]
    assert "RegionOne" in regions


def test_bootstrap_roles_and_implications(nimbus):
    names = {r["Name"] for r in nimbus.admin_cli().json("role", "list")}
    assert {"admin", "manager", "member", "reader"} <= names
    implied = nimbus.admin_cli().json("implied", "role", "list")
    pairs = {(i["Prior Role Name"], i["Implied Role Name"]) for i in implied}
    assert {("admin", "manager"), ("manager", "member"), ("member", "reader")} <= pairs


def test_sigterm_shuts_down_gracefully(start_server):
    server = start_server("sigterm")
    started = time.monotonic()
    code = server.stop(timeout=20)
    assert code == 0, f"exit code {code} after SIGTERM\n{server.log_tail()}"
    assert time.monotonic() - started < 15
