"""GovStack workflow 9.4 (integrate IAM), step by step with the real
`openstack` CLI: create a user, put her in a group, review the group's roles,
create a role and a project, grant the group roles on the project, then the
user authenticates with her own credentials and checks what she can reach."""

import requests

from nimbus_e2e import unique


def test_workflow_9_4_with_openstack_cli(nimbus):
    admin = nimbus.admin_cli()
    alice, devs = unique("alice"), unique("devs")
    auditor, proj1 = unique("auditor"), unique("proj1")
    password = "Alice-" + unique("pw")

    # 1. create the user
    user = admin.json("user", "create", "--domain", "default", "--password", password, alice)
    assert user["name"] == alice and user["enabled"] is True
    assert user["domain_id"] == "default"
    assert "password" not in user

    # 2. assign her to an (existing) group
    group = admin.json("group", "create", devs)
    admin.run("group", "add", "user", devs, alice)
    contains = admin.run("group", "contains", "user", devs, alice)
    assert "in group" in contains.stdout and "not in group" not in contains.stdout
    members = admin.json("user", "list", "--group", devs)
    assert [m["Name"] for m in members] == [alice]

    # 3. review the roles assigned to the group: none yet
    assert admin.json("role", "assignment", "list", "--group", devs, "--names") == []

    # 4. create a new role, 5. a new project, and grant the group roles on it
    role = admin.json("role", "create", auditor)
    assert role["name"] == auditor
    project = admin.json("project", "create", "--domain", "default", proj1)
    assert project["name"] == proj1 and project["domain_id"] == "default"
    admin.run("role", "add", "--group", devs, "--project", proj1, "member")
    admin.run("role", "add", "--group", devs, "--project", proj1, auditor)

    assignments = admin.json("role", "assignment", "list", "--group", devs, "--names")
    assert sorted((a["Role"], a["Group"], a["Project"]) for a in assignments) == sorted([
        ("member", f"{devs}@Default", f"{proj1}@Default"),
        (auditor, f"{devs}@Default", f"{proj1}@Default"),
    ])
    # ... and the same with IDs
    by_id = admin.json("role", "assignment", "list", "--group", group["id"], "--project", project["id"])
    assert {a["Role"] for a in by_id} == {role["id"], admin.json("role", "show", "member")["id"]}
    # the admin sees alice's effective roles, through the group, with implied ones
    effective = admin.json("role", "assignment", "list", "--user", alice, "--names", "--effective")
    assert {(a["Role"], a["User"], a["Project"]) for a in effective} >= {
        ("member", f"{alice}@Default", f"{proj1}@Default"),
        (auditor, f"{alice}@Default", f"{proj1}@Default"),
        ("reader", f"{alice}@Default", f"{proj1}@Default"),
    }
    assert all(a["Group"] == "" for a in effective)

    # 6. alice authenticates with her own credentials (OS_* variables, no clouds.yaml)
    me = nimbus.user_cli(alice, password, project=proj1)
    token = me.json("token", "issue")
    assert token["project_id"] == project["id"]
    assert token["user_id"] == user["id"]

    # ... she sees her project,
    mine = me.json("project", "list", "--my-projects")
    assert [p["Name"] for p in mine] == [proj1]
    assert me.json("project", "show", project["id"])["name"] == proj1
    assert me.json("user", "show", user["id"])["name"] == alice

    # ... the roles her token carries (member and auditor through the group,
    # reader implied by member),
    resp = requests.get(nimbus.identity_url + "/v3/auth/tokens", timeout=30,
                        headers={"X-Auth-Token": token["id"], "X-Subject-Token": token["id"]})
    assert resp.status_code == 200, resp.text
    roles = {r["name"] for r in resp.json()["token"]["roles"]}
    assert {"member", auditor, "reader"} <= roles
    assert "admin" not in roles and "manager" not in roles

    # ... and her role assignments, as the workflow asks her to check. Nimbus
    # lets a user list her own (Owner rule for identity:list_role_assignments,
    # docs/adr/0003); upstream Keystone's default policy answers 403 here.
    # `--user <her name>` resolves because listing users shows her herself.
    mine = me.json("role", "assignment", "list", "--user", alice, "--names", "--effective")
    assert sorted((a["Role"], a["User"], a["Group"], a["Project"]) for a in mine) == sorted([
        ("member", f"{alice}@Default", "", f"{proj1}@Default"),
        (auditor, f"{alice}@Default", "", f"{proj1}@Default"),
        ("reader", f"{alice}@Default", "", f"{proj1}@Default"),
    ])
    assert [u["Name"] for u in me.json("user", "list")] == [alice]

    # ... but nobody else's assignments, and nothing an administrator does
    me.fails("role", "assignment", "list", "--names", status=403)
    me.fails("role", "assignment", "list", "--group", group["id"], status=403)
    me.fails("role", "create", unique("nope"), status=403)
    me.fails("group", "add", "user", group["id"], user["id"])
