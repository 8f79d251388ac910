"""Brute-force protection (--lockout-failure-attempts / --lockout-duration)
and the audit trail that `nimbus audit` prints."""

from nimbus_e2e import unique


def test_failed_logins_lock_the_user_and_are_audited(start_server):
    server = start_server("lockout", "--lockout-failure-attempts", "3", "--lockout-duration", "60")
    ks = server.keystone()
    name, password = unique("victim"), "Victim-" + unique("pw")
    project = ks.create_project(unique("lockproj"))
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    assert ks.token(name, password, project_id=project["id"])

    for _ in range(3):
        resp = ks.authenticate(name, "wrong-" + password, project_id=project["id"])
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"]["code"] == 401
    # locked: even the right password is refused now, for 60 s
    resp = ks.authenticate(name, password, project_id=project["id"])
    assert resp.status_code == 401, resp.text
    assert "X-Subject-Token" not in resp.headers
    # the CLI sees the same
    server.user_cli(name, password, project=project["name"]).fails("token", "issue", status=401)
    # other users are not affected
    assert ks.admin_token(fresh=True)

    audit = server.audit()
    assert audit.returncode == 0, audit.stderr
    out = audit.stdout
    assert password not in out, "the audit log must not contain passwords"
    mine = [line for line in out.splitlines() if user["id"] in line]
    logins = [line for line in mine if "identity.login" in line]
    assert len([line for line in logins if "failure" in line and "wrong password" in line]) == 3, out
    assert len([line for line in logins if "failure" in line and "locked" in line]) >= 2, out
    assert any("success" in line and "identity.user.create" in line for line in mine), out
    assert any("identity.grant.create" in line for line in mine), out
    assert any("identity.project.create" in line and project["id"] in line for line in out.splitlines()), out

    limited = server.audit("--limit", "2")
    assert limited.returncode == 0, limited.stderr
    assert len([line for line in limited.stdout.splitlines() if line.strip()]) == 2, limited.stdout
    # newest first: the lockout refusals
    assert all("locked" in line for line in limited.stdout.splitlines() if line.strip()), limited.stdout


def test_audit_records_identity_changes_with_actor(nimbus):
    ks = nimbus.keystone()
    group = ks.admin("POST", "/groups", 201, json={"group": {"name": unique("audgrp")}})["group"]
    role = ks.admin("POST", "/roles", 201, json={"role": {"name": unique("audrole")}})["role"]
    ks.admin("DELETE", f"/roles/{role['id']}", 204)
    admin_id = ks.admin("GET", "/users?name=admin")["users"][0]["id"]
    out = nimbus.audit().stdout

    def line_of(action, object_id):
        found = [line for line in out.splitlines() if action in line and object_id in line]
        assert found, f"no {action} of {object_id} in:\n{out}"
        return found[0]

    for action, object_id in (("identity.group.create", group["id"]),
                              ("identity.role.create", role["id"]),
                              ("identity.role.delete", role["id"])):
        line = line_of(action, object_id)
        assert "success" in line and admin_id in line, line  # who did it
