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
    lines = [line for line in out.splitlines() if name in line or user["id"] in line]
    assert len(lines) >= 4, f"expected the user's creation and 3+ failed logins in:\n{out}"
    failures = [line for line in lines if "fail" in line.lower() or "401" in line or "denied" in line.lower()]
    assert len(failures) >= 3, f"expected 3+ failed logins of {name} in:\n{out}"
    assert any("user" in line.lower() and "creat" in line.lower() for line in lines), out
    assert "project" in out.lower() and project["id"] in out, "project creation not audited"
    assert password not in out, "the audit log must not contain passwords"

    limited = server.audit("--limit", "2")
    assert limited.returncode == 0, limited.stderr
    assert 1 <= len([line for line in limited.stdout.splitlines() if line.strip()]) <= 3, limited.stdout


def test_audit_records_identity_changes_with_actor(nimbus):
    ks = nimbus.keystone()
    group = ks.admin("POST", "/groups", 201, json={"group": {"name": unique("audgrp")}})["group"]
    role = ks.admin("POST", "/roles", 201, json={"role": {"name": unique("audrole")}})["role"]
    ks.admin("DELETE", f"/roles/{role['id']}", 204)
    out = nimbus.audit().stdout
    assert group["id"] in out or group["name"] in out, out
    assert role["id"] in out or role["name"] in out, out
    admin_id = nimbus.admin_cli().json("user", "show", "admin")["id"]
    assert admin_id in out or "admin" in out
