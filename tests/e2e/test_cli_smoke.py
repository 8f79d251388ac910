"""A sweep of everyday `openstack` identity commands an operator types, each
of which must exit 0 and print what Keystone would: filters, --long, --or-show
(idempotent scripts), properties and tags, token revoke, role removal."""

import pytest

from nimbus_e2e import unique


@pytest.fixture(scope="module")
def world(nimbus):
    """A user with member on a project, in a group, created once for the sweep."""
    ks = nimbus.keystone()
    project = ks.create_project(unique("smokeproj"))
    user = ks.create_user(unique("smokeuser"), "Smoke-pw-1")
    group = ks.admin("POST", "/groups", 201, json={"group": {"name": unique("smokegrp")}})["group"]
    ks.admin("PUT", f"/groups/{group['id']}/users/{user['id']}", 204)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    return {"project": project, "user": user, "group": group}


def test_list_filters(nimbus, world):
    admin = nimbus.admin_cli()
    user, project, group = world["user"], world["project"], world["group"]
    assert [g["ID"] for g in admin.json("group", "list", "--user", user["id"])] == [group["id"]]
    assert [p["ID"] for p in admin.json("project", "list", "--user", user["id"])] == [project["id"]]
    assert [u["ID"] for u in admin.json("user", "list", "--project", project["id"])] == [user["id"]]
    by_project = admin.json("role", "assignment", "list", "--project", project["id"], "--names")
    assert [(a["Role"], a["User"]) for a in by_project] == [("member", f"{user['name']}@Default")]
    by_role = admin.json("role", "assignment", "list", "--role", "member", "--names")
    assert any(a["User"] == f"{user['name']}@Default" for a in by_role)
    system = admin.json("role", "assignment", "list", "--system", "all", "--names")
    assert ("admin", "admin@Default") in [(a["Role"], a["User"]) for a in system]
    domain = admin.json("role", "assignment", "list", "--domain", "default")
    assert isinstance(domain, list)
    long_users = admin.json("user", "list", "--long")
    assert {"ID", "Name", "Project", "Domain", "Description", "Email", "Enabled"} <= set(long_users[0])
    long_projects = admin.json("project", "list", "--long")
    assert {"ID", "Name", "Domain ID", "Description", "Enabled"} <= set(long_projects[0])
    assert admin.json("endpoint", "list", "--interface", "public", "--service", "identity")
    assert admin.json("endpoint", "list", "--region", "RegionOne")
    assert admin.json("service", "show", "identity")["type"] == "identity"
    assert admin.json("region", "show", "RegionOne")["region"] == "RegionOne"
    assert admin.json("domain", "show", "default")["name"] == "Default"


def test_or_show_makes_scripts_idempotent(nimbus):
    admin = nimbus.admin_cli()
    names = {kind: unique("again" + kind) for kind in ("user", "project", "group", "role", "domain")}
    for _ in range(2):
        user = admin.json("user", "create", "--or-show", "--domain", "default", "--password", "Again-1",
                          names["user"])
        project = admin.json("project", "create", "--or-show", "--domain", "default", names["project"])
        group = admin.json("group", "create", "--or-show", names["group"])
        role = admin.json("role", "create", "--or-show", names["role"])
        domain = admin.json("domain", "create", "--or-show", names["domain"])
    assert user["name"] == names["user"] and project["name"] == names["project"]
    assert group["name"] == names["group"] and role["name"] == names["role"]
    assert domain["name"] == names["domain"]


def test_project_properties_and_tags(nimbus):
    admin = nimbus.admin_cli()
    name = unique("props")
    project = admin.json("project", "create", "--domain", "default", "--property", "cost_center=42",
                         "--tag", "blue", "--tag", "prod", name)
    assert project["cost_center"] == "42"
    assert sorted(project["tags"]) == ["blue", "prod"]
    admin.run("project", "set", "--property", "owner=ops", "--tag", "green", project["id"])
    shown = admin.json("project", "show", project["id"])
    assert shown["owner"] == "ops" and shown["cost_center"] == "42"
    assert "green" in shown["tags"]
    tagged = admin.json("project", "list", "--tags", "green")
    assert [p["ID"] for p in tagged] == [project["id"]]


def test_renames_and_removals(nimbus, world):
    admin = nimbus.admin_cli()
    ks = nimbus.keystone()
    user = ks.create_user(unique("ren"), "Ren-pw-1")
    new_name = unique("renamed")
    admin.run("user", "set", "--name", new_name, user["id"])
    assert admin.json("user", "show", new_name)["id"] == user["id"]
    admin.run("domain", "set", "--description", "still the default", "default")
    assert admin.json("domain", "show", "default")["description"] == "still the default"
    admin.run("role", "add", "--user", user["id"], "--project", world["project"]["id"], "reader")
    admin.run("role", "remove", "--user", user["id"], "--project", world["project"]["id"], "reader")
    assert admin.json("role", "assignment", "list", "--user", user["id"]) == []
    admin.run("group", "add", "user", world["group"]["id"], user["id"])
    admin.run("group", "remove", "user", world["group"]["id"], user["id"])
    contains = admin.run("group", "contains", "user", world["group"]["id"], user["id"], check=False)
    assert "not in group" in contains.stdout + contains.stderr


def test_token_revoke_with_cli(nimbus, world):
    ks = nimbus.keystone()
    token = ks.token(world["user"]["name"], "Smoke-pw-1", project_id=world["project"]["id"])
    nimbus.admin_cli().run("token", "revoke", token)
    assert ks.request("GET", "/auth/projects", token=token).status_code == 401
