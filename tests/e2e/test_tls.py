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


def test_console_cookies_are_secure_under_tls(start_server):
    """Under TLS the console's cookies also carry `Secure` (issue 6)."""
    import re

    from nimbus_e2e import ADMIN_PASSWORD

    server = start_server("tls-console", tls=True)
    browser = requests.Session()
    # Per call: a Session's own `verify` loses to REQUESTS_CA_BUNDLE from the environment.
    page = browser.get(server.url + "/login", timeout=10, verify=server.verify)
    login_cookie = page.headers["set-cookie"]
    assert "Secure" in login_cookie and "HttpOnly" in login_cookie, login_cookie
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
    resp = browser.post(server.url + "/login", data={"csrf": csrf, "domain": "Default",
                                                     "user": "admin", "password": ADMIN_PASSWORD},
                        allow_redirects=False, timeout=30, verify=server.verify)
    assert resp.status_code == 303, resp.text
    session = [c for c in resp.raw.headers.getlist("set-cookie") if c.startswith("nimbus_session=")]
    assert session and all(f in session[0] for f in ("Secure", "HttpOnly", "SameSite=Strict")), \
        session
