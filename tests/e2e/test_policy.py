"""Personas of Keystone's default policy: a project reader and a domain
manager, through the real `openstack` CLI and plain HTTP."""

from nimbus_e2e import unique


def test_project_reader_can_look_but_not_create(nimbus):
    ks = nimbus.keystone()
    name, password = unique("reader"), "Reader-" + unique("pw")
    project = ks.create_project(unique("readproj"))
    user = ks.create_user(name, password)
    ks.grant("reader", user_id=user["id"], project_id=project["id"])

    me = nimbus.user_cli(name, password, project=project["name"])
    token = me.json("token", "issue")
    assert token["project_id"] == project["id"] and token["user_id"] == user["id"]

    # what a reader may see: her project, herself, her project list
    assert me.json("project", "show", project["id"])["name"] == project["name"]
    assert me.json("user", "show", user["id"])["name"] == name
    assert [p["ID"] for p in me.json("project", "list", "--my-projects")] == [project["id"]]

    # nothing can be created
    me.fails("user", "create", "--password", "x-Secret-1", unique("mallory"), status=403)
    me.fails("project", "create", unique("evilproj"), status=403)
    me.fails("group", "create", unique("evilgroup"), status=403)
    me.fails("role", "create", unique("evilrole"), status=403)
    # ... nor granted to herself (over HTTP: `openstack role add` exits 0 even
    # when the grant is refused, it only logs the status)
    ks_token = ks.token(name, password, project_id=project["id"])
    resp = ks.request("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/{ks.role_id('member')}",
                      token=ks_token)
    assert resp.status_code == 403, resp.text
    # ... and the user list shows her herself only (docs/adr/0003; upstream
    # Keystone answers 403)
    assert [u["ID"] for u in me.json("user", "list")] == [user["id"]]

    # nothing was created behind the failures
    admin = nimbus.admin_cli()
    assigned = admin.json("role", "assignment", "list", "--user", user["id"], "--names")
    assert [(a["Role"], a["Project"]) for a in assigned] == [("reader", f"{project['name']}@Default")]


def test_domain_manager_manages_only_her_domain(nimbus):
    ks = nimbus.keystone()
    dom_a, dom_b = ks.create_domain(unique("domA")), ks.create_domain(unique("domB"))
    mgr_name, mgr_pw = unique("mgr"), "Mgr-" + unique("pw")
    mgr = ks.create_user(mgr_name, mgr_pw, domain_id=dom_a["id"])
    ks.grant("manager", user_id=mgr["id"], domain_id=dom_a["id"])
    bob = ks.create_user(unique("bob"), "Bob-" + unique("pw"), domain_id=dom_b["id"])
    proj_b = ks.create_project(unique("projB"), domain_id=dom_b["id"])

    # a domain-scoped login, as a user does it with OS_DOMAIN_NAME
    me = nimbus.user_cli(mgr_name, mgr_pw, user_domain=dom_a["name"], domain=dom_a["name"])
    token = me.json("token", "issue")
    assert token["domain_id"] == dom_a["id"] and token["user_id"] == mgr["id"]
    assert "project_id" not in token

    # she creates a user and a project in her domain and grants member there
    carol_name = unique("carol")
    carol = me.json("user", "create", "--domain", dom_a["id"], "--password", "Carol-1-pw", carol_name)
    assert carol["domain_id"] == dom_a["id"]
    proj_a = me.json("project", "create", "--domain", dom_a["id"], unique("projA"))
    assert proj_a["domain_id"] == dom_a["id"]
    me.run("role", "add", "--user", carol["id"], "--project", proj_a["id"], "member")
    granted = nimbus.admin_cli().json("role", "assignment", "list", "--user", carol["id"], "--names")
    assert [(a["Role"], a["Project"]) for a in granted] == [("member", f"{proj_a['name']}@{dom_a['name']}")]
    # carol can now log in to that project
    assert ks.token(carol_name, "Carol-1-pw", user_domain_id=dom_a["id"], project_id=proj_a["id"])

    # she cannot hand out admin, which is above her own role (over HTTP:
    # `openstack role add` exits 0 even when the grant is refused)
    mgr_token = ks.token(mgr_name, mgr_pw, user_domain_id=dom_a["id"], domain_id=dom_a["id"])
    resp = ks.request("PUT", f"/projects/{proj_a['id']}/users/{carol['id']}/roles/{ks.role_id('admin')}",
                      token=mgr_token)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["code"] == 403
    granted = nimbus.admin_cli().json("role", "assignment", "list", "--user", carol["id"], "--names")
    assert [a["Role"] for a in granted] == ["member"]

    # other domains do not exist for her: a user of B answers 404 (Nimbus never
    # confirms that another tenant's resource exists; upstream Keystone says 403)
    resp = ks.request("GET", f"/users/{bob['id']}", token=mgr_token)
    assert resp.status_code == 404, resp.text
    assert resp.json()["error"]["code"] == 404
    # ... she cannot create users there, nor grant roles on B's projects
    resp = ks.request("POST", "/users", token=mgr_token,
                      json={"user": {"name": unique("intruder"), "domain_id": dom_b["id"]}})
    assert resp.status_code in (403, 404), resp.text
    member_id = ks.role_id("member")
    resp = ks.request("PUT", f"/projects/{proj_b['id']}/users/{carol['id']}/roles/{member_id}", token=mgr_token)
    assert resp.status_code in (403, 404), resp.text
    # ... and listing users shows her domain only
    resp = ks.request("GET", "/users", token=mgr_token)
    assert resp.status_code == 200, resp.text
    assert {u["domain_id"] for u in resp.json()["users"]} == {dom_a["id"]}
