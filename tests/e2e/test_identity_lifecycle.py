"""Identity objects over their whole life with the real CLI (create, show,
set, list with filters, disable, delete), and what each change does to the
tokens already issued: Keystone revokes on group removal, role loss, a
disabled project or domain, and a deleted user."""

from nimbus_e2e import ADMIN_PASSWORD, unique


def _login_member(ks, project_id=None, domain_id="default"):
    name, password = unique("life"), "Life-" + unique("pw")
    project = {"id": project_id} if project_id else ks.create_project(unique("lifeproj"), domain_id)
    user = ks.create_user(name, password, domain_id=domain_id)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    token = ks.token(name, password, user_domain_id=domain_id, project_id=project["id"])
    return user, password, project, token


def _valid(ks, token) -> bool:
    code = ks.request("GET", "/auth/projects", token=token).status_code
    assert code in (200, 401), code
    return code == 200


def test_crud_with_openstack_cli(nimbus):
    admin = nimbus.admin_cli()
    dom = admin.json("domain", "create", "--description", "e2e domain", unique("crud"))
    assert dom["enabled"] is True and dom["description"] == "e2e domain"
    assert admin.json("domain", "show", dom["name"])["id"] == dom["id"]

    proj = admin.json("project", "create", "--domain", dom["name"], "--description", "first", unique("crudproj"))
    user = admin.json("user", "create", "--domain", dom["name"], "--project", proj["id"],
                      "--email", "u@example.org", "--description", "d1", "--password", "Crud-pw-1", unique("cruduser"))
    assert user["default_project_id"] == proj["id"] and user["email"] == "u@example.org"
    group = admin.json("group", "create", "--domain", dom["name"], "--description", "g", unique("crudgrp"))
    assert group["domain_id"] == dom["id"]

    # lists, filtered by domain; names resolve within a domain
    assert [u["ID"] for u in admin.json("user", "list", "--domain", dom["name"])] == [user["id"]]
    assert [p["ID"] for p in admin.json("project", "list", "--domain", dom["name"])] == [proj["id"]]
    assert [g["ID"] for g in admin.json("group", "list", "--domain", dom["name"])] == [group["id"]]
    assert admin.json("user", "show", "--domain", dom["name"], user["name"])["id"] == user["id"]
    assert dom["id"] in [d["ID"] for d in admin.json("domain", "list")]

    # updates
    admin.run("user", "set", "--email", "new@example.org", "--description", "d2", user["id"])
    shown = admin.json("user", "show", user["id"])
    assert shown["email"] == "new@example.org" and shown["description"] == "d2"
    new_name = unique("renamed")
    admin.run("project", "set", "--name", new_name, "--description", "second", proj["id"])
    shown = admin.json("project", "show", proj["id"])
    assert shown["name"] == new_name and shown["description"] == "second"
    admin.run("group", "set", "--description", "g2", group["id"])
    assert admin.json("group", "show", group["id"])["description"] == "g2"
    admin.run("project", "set", "--disable", proj["id"])
    assert admin.json("project", "show", proj["id"])["enabled"] is False
    disabled = admin.json("project", "list", "--domain", dom["id"], "--long")
    assert [p["Enabled"] for p in disabled] == [False]

    # deletes; a domain must be disabled first (Keystone: 403 while enabled)
    admin.run("group", "delete", group["id"])
    admin.run("user", "delete", user["id"])
    admin.run("project", "delete", proj["id"])
    admin.fails("user", "show", user["id"])
    admin.fails("project", "show", proj["id"])
    admin.fails("group", "show", group["id"])
    admin.fails("domain", "delete", dom["id"], status=403)
    admin.run("domain", "set", "--disable", dom["id"])
    admin.run("domain", "delete", dom["id"])
    admin.fails("domain", "show", dom["id"])


def test_group_removal_and_role_loss_revoke_tokens(nimbus):
    ks = nimbus.keystone()
    name, password = unique("grp"), "Grp-" + unique("pw")
    project = ks.create_project(unique("grpproj"))
    user = ks.create_user(name, password)
    group = ks.admin("POST", "/groups", 201, json={"group": {"name": unique("grp")}})["group"]
    ks.admin("PUT", f"/groups/{group['id']}/users/{user['id']}", 204)
    assert ks.request("HEAD", f"/groups/{group['id']}/users/{user['id']}", token=ks.admin_token()).status_code == 204
    ks.grant("member", group_id=group["id"], project_id=project["id"])
    token = ks.token(name, password, project_id=project["id"])
    assert _valid(ks, token)

    ks.admin("DELETE", f"/groups/{group['id']}/users/{user['id']}", 204)
    assert ks.request("HEAD", f"/groups/{group['id']}/users/{user['id']}", token=ks.admin_token()).status_code == 404
    assert not _valid(ks, token)
    # no role left on the project: no project-scoped token either
    assert ks.authenticate(name, password, project_id=project["id"]).status_code == 401

    # a direct grant, then revoked
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    token = ks.token(name, password, project_id=project["id"])
    member = ks.role_id("member")
    path = f"/projects/{project['id']}/users/{user['id']}/roles/{member}"
    assert ks.request("HEAD", path, token=ks.admin_token()).status_code == 204
    ks.admin("DELETE", path, 204)
    assert ks.request("HEAD", path, token=ks.admin_token()).status_code == 404
    assert not _valid(ks, token)


def test_disabled_project_and_domain_refuse_tokens(nimbus):
    ks = nimbus.keystone()
    user, password, project, token = _login_member(ks)
    ks.admin("PATCH", f"/projects/{project['id']}", 200, json={"project": {"enabled": False}})
    assert not _valid(ks, token)
    assert ks.authenticate(user["name"], password, project_id=project["id"]).status_code == 401
    ks.admin("PATCH", f"/projects/{project['id']}", 200, json={"project": {"enabled": True}})
    assert ks.token(user["name"], password, project_id=project["id"])

    domain = ks.create_domain(unique("offdom"))
    user, password, project, token = _login_member(ks, domain_id=domain["id"])
    ks.admin("PATCH", f"/domains/{domain['id']}", 200, json={"domain": {"enabled": False}})
    assert not _valid(ks, token)
    resp = ks.authenticate(user["name"], password, user_domain_id=domain["id"], project_id=project["id"])
    assert resp.status_code == 401, resp.text


def test_deleted_user_token_is_rejected(nimbus):
    ks = nimbus.keystone()
    user, password, project, token = _login_member(ks)
    ks.admin("DELETE", f"/users/{user['id']}", 204)
    assert not _valid(ks, token)
    assert ks.request("GET", "/auth/tokens", token=ks.admin_token(), headers={"X-Subject-Token": token}).status_code == 404
    assert ks.admin("GET", f"/role_assignments?user.id={user['id']}")["role_assignments"] == []


def test_rescope_with_token_method(nimbus):
    ks = nimbus.keystone()
    name, password = unique("rescope"), "Re-" + unique("pw")
    user = ks.create_user(name, password)
    projects = [ks.create_project(unique("rsproj")) for _ in range(2)]
    for p in projects:
        ks.grant("reader", user_id=user["id"], project_id=p["id"])

    resp = ks.authenticate(name, password)  # no scope, no default project: unscoped
    assert resp.status_code == 201, resp.text
    unscoped = resp.headers["X-Subject-Token"]
    body = resp.json()["token"]
    assert "project" not in body and "roles" not in body and "catalog" not in body

    listed = ks.request("GET", "/auth/projects", token=unscoped)
    assert listed.status_code == 200, listed.text
    assert sorted(p["id"] for p in listed.json()["projects"]) == sorted(p["id"] for p in projects)

    for p in projects:
        resp = ks.request("POST", "/auth/tokens", json={"auth": {
            "identity": {"methods": ["token"], "token": {"id": unscoped}},
            "scope": {"project": {"id": p["id"]}}}})
        assert resp.status_code == 201, resp.text
        scoped = resp.json()["token"]
        assert scoped["project"]["id"] == p["id"] and scoped["user"]["id"] == user["id"]
        assert "token" in scoped["methods"]
        # a rescoped token never outlives the token it came from
        assert scoped["expires_at"][:19] <= body["expires_at"][:19]
    # and not into a project without a role
    other = ks.create_project(unique("rsother"))
    resp = ks.request("POST", "/auth/tokens", json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": unscoped}},
        "scope": {"project": {"id": other["id"]}}}})
    assert resp.status_code == 401, resp.text


def test_system_scope(nimbus):
    cli = nimbus.user_cli("admin", ADMIN_PASSWORD)
    cli.env["OS_SYSTEM_SCOPE"] = "all"
    token = cli.json("token", "issue")
    assert token.get("system") == "all" and "project_id" not in token
    assert any(u["Name"] == "admin" for u in cli.json("user", "list"))

    ks = nimbus.keystone()
    resp = ks.request("POST", "/auth/tokens", json={"auth": {
        "identity": _password_identity("admin", ADMIN_PASSWORD), "scope": {"system": {"all": True}}}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["token"]["system"] == {"all": True}
    # a member has no role on the system
    user, password, _project, _token = _login_member(ks)
    resp = ks.request("POST", "/auth/tokens", json={"auth": {
        "identity": _password_identity(user["name"], password), "scope": {"system": {"all": True}}}})
    assert resp.status_code == 401, resp.text


def _password_identity(name, password):
    return {"methods": ["password"], "password": {"user": {"name": name, "domain": {"id": "default"},
                                                           "password": password}}}


def test_auth_catalog_projects_domains(nimbus):
    ks = nimbus.keystone()
    user, _password, project, token = _login_member(ks)
    catalog = ks.request("GET", "/auth/catalog", token=token)
    assert catalog.status_code == 200, catalog.text
    assert any(s["type"] == "identity" for s in catalog.json()["catalog"])
    projects = ks.request("GET", "/auth/projects", token=token).json()["projects"]
    assert [p["id"] for p in projects] == [project["id"]]
    domains = ks.request("GET", "/auth/domains", token=token)
    assert domains.status_code == 200 and domains.json()["domains"] == []
    system = ks.request("GET", "/auth/system", token=token)
    assert system.status_code == 200 and system.json()["system"] == []
