"""Application credentials through the CLI (create, authenticate with them,
restrictions, delete), state that survives a restart, and unique names under
concurrent creates (SQLite and PostgreSQL alike)."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from nimbus_e2e import ADMIN_PASSWORD, unique


def _role_names(roles) -> set:
    """OSC prints roles as a list of {"id","name"} objects or as a string of names."""
    if isinstance(roles, str):
        return set(roles.replace(",", " ").split())
    return {r["name"] if isinstance(r, dict) else r for r in roles}


def test_application_credentials_with_cli(nimbus):
    ks = nimbus.keystone()
    name, password = unique("appuser"), "App-" + unique("pw")
    project = ks.create_project(unique("appproj"))
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    me = nimbus.user_cli(name, password, project=project["name"])

    secret = "s3cret-" + unique("app")
    cred = me.json("application", "credential", "create", "--secret", secret,
                   "--description", "ci robot", unique("robot"))
    assert cred["Secret"] == secret and cred["Project ID"] == project["id"]
    assert cred["Unrestricted"] is False
    listed = me.json("application", "credential", "list")
    assert [c["ID"] for c in listed] == [cred["ID"]]
    cred = {"id": cred["ID"], "name": cred["Name"]}

    robot = nimbus.cli_with(f"appcred {cred['name']}", OS_AUTH_TYPE="v3applicationcredential",
                            OS_APPLICATION_CREDENTIAL_ID=cred["id"],
                            OS_APPLICATION_CREDENTIAL_SECRET=secret)
    token = robot.json("token", "issue")
    assert token["user_id"] == user["id"] and token["project_id"] == project["id"]
    # restricted (the default): it cannot mint more credentials
    robot.fails("application", "credential", "create", unique("child"), status=403)
    # a wrong secret is refused
    wrong = nimbus.cli_with("bad secret", OS_AUTH_TYPE="v3applicationcredential",
                            OS_APPLICATION_CREDENTIAL_ID=cred["id"], OS_APPLICATION_CREDENTIAL_SECRET="nope")
    wrong.fails("token", "issue", status=401)

    # a credential limited to reader carries only reader
    ro_secret = "ro-" + unique("secret")
    ro = me.json("application", "credential", "create", "--secret", ro_secret, "--role", "reader", unique("ro"))
    assert _role_names(ro["Roles"]) == {"reader"}, ro
    resp = ks.request("POST", "/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": ro["ID"], "secret": ro_secret}}}})
    assert resp.status_code == 201, resp.text
    assert {r["name"] for r in resp.json()["token"]["roles"]} == {"reader"}
    assert resp.json()["token"]["project"]["id"] == project["id"]

    # deleting it ends its tokens and its logins
    me.run("application", "credential", "delete", cred["id"])
    assert ks.request("GET", "/auth/projects", token=token["id"]).status_code == 401
    robot.fails("token", "issue", status=401)
    assert [c["ID"] for c in me.json("application", "credential", "list")] == [ro["ID"]]


def test_application_credential_without_roles_gets_the_creators_roles(nimbus):
    # Keystone (keystone/api/users.py _get_roles): "roles" absent or empty means
    # the roles of the creating token, snapshotted at creation (with implied
    # roles); OSC always sends "roles": [] when no --role is given. A later
    # grant to the user must not widen the credential.
    ks = nimbus.keystone()
    name, password = unique("snap"), "Snap-" + unique("pw")
    project = ks.create_project(unique("snapproj"))
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    token = ks.token(name, password, project_id=project["id"])
    resp = ks.request("POST", f"/users/{user['id']}/application_credentials", token=token,
                      json={"application_credential": {"name": unique("snap"), "secret": "Snap-secret-1",
                                                       "roles": []}})
    assert resp.status_code == 201, resp.text
    cred = resp.json()["application_credential"]
    assert {r["name"] for r in cred["roles"]} == {"member", "reader"}, cred

    ks.grant("manager", user_id=user["id"], project_id=project["id"])
    resp = ks.request("POST", "/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": "Snap-secret-1"}}}})
    assert resp.status_code == 201, resp.text
    assert {r["name"] for r in resp.json()["token"]["roles"]} == {"member", "reader"}


def test_state_and_tokens_survive_restart(start_server):
    server = start_server("restart")
    ks = server.keystone()
    name, password = unique("durable"), "Dur-" + unique("pw")
    project = ks.create_project(unique("durproj"))
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    token = ks.token(name, password, project_id=project["id"])
    revoked = ks.token(name, password, project_id=project["id"])
    ks.admin("DELETE", "/auth/tokens", 204, headers={"X-Subject-Token": revoked})

    assert server.stop() == 0
    server.start()
    ks = server.keystone()
    # the data, the admin password and the issued tokens are all still there
    assert ks.admin("GET", f"/users/{user['id']}")["user"]["name"] == name
    assert ks.token(name, password, project_id=project["id"])
    assert ks.request("GET", "/auth/projects", token=token).status_code == 200
    assert ks.request("GET", "/auth/projects", token=revoked).status_code == 401
    assert server.admin_cli().json("token", "issue")["id"]
    # bootstrap ran once: one admin user, one of each default role
    assert len(ks.admin("GET", "/users?name=admin")["users"]) == 1
    roles = [r["name"] for r in ks.admin("GET", "/roles")["roles"]]
    assert sorted(r for r in roles if r in ("admin", "manager", "member", "reader")) == [
        "admin", "manager", "member", "reader"]
    assert ADMIN_PASSWORD in server.clouds_yaml.read_text()


def test_concurrent_creates_keep_names_unique(nimbus):
    ks = nimbus.keystone()
    token = ks.admin_token()
    name = unique("race")

    def create(n):
        body = {"user": {"name": n, "password": "Race-pw-1", "domain_id": "default"}}
        return ks.request("POST", "/users", token=token, json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        same = list(pool.map(create, [name] * 8))
        distinct = list(pool.map(create, [unique("many") for _ in range(16)]))
    assert sorted(same) == [201] + [409] * 7, same
    assert distinct == [201] * 16, distinct
    assert len(ks.admin("GET", f"/users?name={name}")["users"]) == 1
