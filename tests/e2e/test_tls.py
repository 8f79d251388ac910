"""HTTPS with --tls-cert/--tls-key: the clouds.yaml the server writes must
carry the CA certificate and an https auth_url, and work unchanged."""

import requests
import yaml

from nimbus_e2e import unique


def test_tls_clouds_yaml_works(start_server):
    server = start_server("tls", tls=True)
    assert server.url.startswith("https://")

    cloud = yaml.safe_load(server.clouds_yaml.read_text())["clouds"]["nimbus"]
    assert cloud["auth"]["auth_url"].startswith("https://127.0.0.1:"), cloud
    assert cloud.get("cacert"), "clouds.yaml must name the CA certificate when TLS is on"

    token = server.admin_cli().json("token", "issue")
    assert token["id"] and token["project_id"]
    catalog = server.admin_cli().json("catalog", "list")
    urls = [e["url"] for entry in catalog for e in entry["Endpoints"]]
    assert urls and all(u.startswith("https://") for u in urls), urls

    # a user without clouds.yaml, with OS_CACERT
    ks = server.keystone()
    name, password = unique("tlsuser"), "Tls-" + unique("pw")
    project = ks.create_project(unique("tlsproj"))
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    assert server.user_cli(name, password, project=project["name"]).json("token", "issue")["user_id"] == user["id"]

    # plain HTTP on the TLS port is not served, and an unverified client is refused
    try:
        resp = requests.get(server.url.replace("https://", "http://") + "/healthz", timeout=5)
        assert resp.status_code != 200
    except requests.RequestException:
        pass
    try:
        requests.get(server.url + "/healthz", timeout=5)  # default trust store: self-signed
        raise AssertionError("a self-signed certificate must not verify against the system CAs")
    except requests.exceptions.SSLError:
        pass
