"""The SCS Status Page API at /status-api against a real `nimbus serve`, with
`requests`: public reads without a token, a cloud admin managing components,
incidents and their updates (X-Auth-Token or Bearer), members refused (403),
anonymous writes refused (401), bad input answered 4xx with a {"message"}
body, and the bootstrap defaults surviving a restart unchanged."""

import requests

from nimbus_e2e import HTTP_TIMEOUT, unique

SERVICES = {"Identity", "Compute", "Image", "Network", "Block Storage", "Console"}
FRAME = {"start": "1970-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}


def _api(server, method, path, token=None, bearer=False, **kw):
    headers = dict(kw.pop("headers", {}) or {})
    if token:
        if bearer:
            headers["Authorization"] = f"Bearer {token}"
        else:
            headers["X-Auth-Token"] = token
    kw.setdefault("timeout", HTTP_TIMEOUT)
    return requests.request(method, f"{server.url}/status-api{path}", headers=headers,
                            verify=server.verify, **kw)


def _data(server, path, **kw):
    resp = _api(server, "GET", path, **kw)
    assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
    return resp.json()["data"]


def _error(resp, status):
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    body = resp.json()
    assert set(body) == {"message"} and body["message"], body


def _member_token(server):
    ks = server.keystone()
    name, password = unique("statusmember"), "Member-" + unique("pw")
    project = ks.create_project(unique("statusproj"))
    user = ks.create_user(name, password)
    ks.grant("member", user_id=user["id"], project_id=project["id"])
    return ks.token(name, password, project_id=project["id"])


def test_public_reads_need_no_token(nimbus):
    components = _data(nimbus, "/components")
    assert SERVICES <= {c["displayName"] for c in components}
    for c in components:
        assert set(c) == {"id", "displayName", "labels", "activelyAffectedBy"}, c
    severities = _data(nimbus, "/severities")
    assert {"displayName": "broken", "value": 100} in severities
    phases = _data(nimbus, "/phases")
    assert phases["generation"] >= 1 and phases["phases"]
    assert _data(nimbus, "/phases", params={"generation": 1})["phases"][0] == "Scheduled"
    assert {t["displayName"] for t in _data(nimbus, "/impacttypes")} >= {"Unknown"}
    assert isinstance(_data(nimbus, "/incidents", params=FRAME), list)
    # A token that is not valid does not matter for reading.
    assert _data(nimbus, "/components", token="not-a-token")


def test_admin_runs_an_incident(nimbus):
    admin = nimbus.keystone().admin_token()
    resp = _api(nimbus, "POST", "/components", admin,
                json={"displayName": unique("Object Storage"), "labels": {"region": "e2e"}})
    assert resp.status_code == 201, resp.text
    comp = resp.json()["id"]
    itype = _data(nimbus, "/impacttypes")[0]["id"]

    # SCS clients send Bearer tokens; Nimbus takes those as well.
    resp = _api(nimbus, "POST", "/incidents", admin, bearer=True, json={
        "displayName": unique("Slow object reads"),
        "description": "Reads take seconds.",
        "beganAt": "2026-01-10T10:00:00Z",
        "affects": [{"reference": comp, "type": itype, "severity": 75}],
        "phase": {"generation": 1, "order": 1},
    })
    assert resp.status_code == 201, resp.text
    inc = resp.json()["id"]

    affected = _data(nimbus, f"/components/{comp}")["activelyAffectedBy"]
    assert affected == [{"reference": inc, "type": itype, "severity": 75}]
    assert _data(nimbus, f"/components/{comp}", params={"at": "2026-01-10T09:00:00Z"})[
        "activelyAffectedBy"] == []
    listed = _data(nimbus, "/incidents", params={"start": "2026-01-10T00:00:00Z",
                                                  "end": "2026-01-11T00:00:00Z"})
    assert inc in [i["id"] for i in listed]

    resp = _api(nimbus, "POST", f"/incidents/{inc}/updates", admin,
                json={"displayName": "Cause found", "description": "A full disk."})
    assert (resp.status_code, resp.json()) == (201, {"order": 0})
    assert _data(nimbus, f"/incidents/{inc}/updates/0")["displayName"] == "Cause found"

    resp = _api(nimbus, "PATCH", f"/incidents/{inc}", admin,
                json={"endedAt": "2026-01-10T12:00:00Z", "phase": {"generation": 1, "order": 4}})
    assert resp.status_code == 204, resp.text
    incident = _data(nimbus, f"/incidents/{inc}")
    assert incident["endedAt"] == "2026-01-10T12:00:00Z"
    assert incident["updates"] == [0]
    assert _data(nimbus, f"/components/{comp}")["activelyAffectedBy"] == []

    # The component cannot go while the incident names it.
    _error(_api(nimbus, "DELETE", f"/components/{comp}", admin), 409)
    assert _api(nimbus, "DELETE", f"/incidents/{inc}", admin).status_code == 204
    assert _api(nimbus, "DELETE", f"/components/{comp}", admin).status_code == 204
    _error(_api(nimbus, "GET", f"/components/{comp}"), 404)


def test_members_and_anonymous_callers_cannot_write(nimbus):
    member = _member_token(nimbus)
    comp = next(c for c in _data(nimbus, "/components") if c["displayName"] == "Compute")
    before = _data(nimbus, "/components")
    writes = [
        ("POST", "/components", {"displayName": unique("evil")}),
        ("PATCH", f"/components/{comp['id']}", {"displayName": "Hacked"}),
        ("DELETE", f"/components/{comp['id']}", None),
        ("POST", "/incidents", {"displayName": unique("fake outage")}),
        ("POST", "/phases", {"phases": ["x"]}),
        ("POST", "/severities", {"displayName": unique("sev"), "value": 42}),
        ("DELETE", "/severities/broken", None),
    ]
    for method, path, body in writes:
        _error(_api(nimbus, method, path, member, json=body), 403)
        _error(_api(nimbus, method, path, member, bearer=True, json=body), 403)
        _error(_api(nimbus, method, path, json=body), 401)
    assert _data(nimbus, "/components") == before
    assert {"displayName": "broken", "value": 100} in _data(nimbus, "/severities")


def test_bad_input_is_a_client_error(nimbus):
    admin = nimbus.keystone().admin_token()
    _error(_api(nimbus, "POST", "/components", admin, data=b"{not json",
                headers={"Content-Type": "application/json"}), 400)
    _error(_api(nimbus, "POST", "/components", admin, json={"displayName": 7}), 400)
    _error(_api(nimbus, "POST", "/incidents", admin, json={
        "displayName": "x", "affects": [{"reference": "nope", "type": "nope"}]}), 400)
    _error(_api(nimbus, "POST", "/severities", admin, json={"displayName": "x", "value": 1000}), 400)
    _error(_api(nimbus, "GET", "/components/not-a-uuid"), 400)
    _error(_api(nimbus, "GET", "/incidents"), 400)
    _error(_api(nimbus, "GET", "/incidents", params={"start": "tomorrow", "end": "later"}), 400)
    _error(_api(nimbus, "GET", "/nothing-here"), 404)
    _error(_api(nimbus, "PUT", "/components"), 405)


def test_defaults_survive_a_restart_unchanged(start_server):
    server = start_server("status")
    admin = server.keystone().admin_token()
    comp = next(c for c in _data(server, "/components") if c["displayName"] == "Console")
    assert _api(server, "DELETE", f"/components/{comp['id']}", admin).status_code == 204
    before = {p: _data(server, p) for p in ("/components", "/severities", "/impacttypes", "/phases")}
    assert server.stop() == 0
    server.start()
    after = {p: _data(server, p) for p in before}
    # Seeding is per kind and only into an empty kind: the deleted default stays deleted.
    assert after == before
    assert "Console" not in {c["displayName"] for c in after["/components"]}
