"""The web console in headless Chromium (issue 6), driven by Playwright with
Debian's /usr/bin/chromium: workflow 9.4 clicked through by an admin and then
checked by the new user; a reader sees no create or delete controls and a
forged request is refused; the cookies' flags and the login's CSRF check.
Screenshots of each step land in tests/e2e/.artifacts/<label>/console/."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from conftest import ARTIFACTS
from nimbus_e2e import ADMIN_PASSWORD, unique

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Root needs --no-sandbox; the others keep Chromium off the (closed) network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ARTIFACTS / "console"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed")


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, nimbus):
    context = browser.new_context(base_url=nimbus.url, ignore_https_errors=True)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def vm_page(browser, vm_cloud):
    """A page on the cloud that runs real guests."""
    if os.environ.get("NIMBUS_E2E_VM") == "0":
        pytest.skip("NIMBUS_E2E_VM=0: VM tests disabled")
    context = browser.new_context(base_url=vm_cloud.url, ignore_https_errors=True)
    pg = context.new_page()
    yield pg
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def login(page, user: str, password: str, domain: str = "Default") -> None:
    page.goto("/login")
    page.get_by_label("Domain").fill(domain)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    playwright.expect(page.get_by_role("button", name="Log out")).to_be_visible()


def notice(page) -> str:
    return page.locator(".notice, .error").first.inner_text()


def test_workflow_9_4_in_the_browser(page, nimbus):
    expect = playwright.expect
    user, group, role, project = unique("alice"), unique("team"), unique("auditor"), unique("proj")
    password = "Alice-pw-" + unique("x")
    login(page, "admin", ADMIN_PASSWORD)
    shot(page, "9.4-01-admin-overview")

    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_label("Name", exact=True).fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create user").click()
    assert notice(page) == f"User {user} created.", notice(page)
    shot(page, "9.4-02-user-created")

    page.get_by_role("link", name="Groups", exact=True).click()
    page.get_by_label("Name", exact=True).fill(group)
    page.get_by_role("button", name="Create group").click()
    assert notice(page) == f"Group {group} created."
    page.get_by_role("link", name=group).click()
    page.get_by_label("User").select_option(label=user)
    page.get_by_role("button", name="Add member").click()
    assert notice(page) == "Member added."
    expect(page.get_by_role("link", name=user)).to_be_visible()
    shot(page, "9.4-03-group-member")

    page.get_by_role("link", name="Roles", exact=True).click()
    page.get_by_label("Name", exact=True).fill(role)
    page.get_by_role("button", name="Create role").click()
    assert notice(page) == f"Role {role} created."
    page.get_by_role("link", name=role).click()
    page.get_by_label("Role it implies").select_option(label="reader")
    page.get_by_role("button", name="Add implied role").click()
    assert notice(page) == "Implied role added."
    shot(page, "9.4-04-role-implies-reader")

    page.get_by_role("link", name="Projects", exact=True).click()
    page.get_by_label("Name", exact=True).fill(project)
    page.get_by_role("button", name="Create project").click()
    assert notice(page) == f"Project {project} created."
    shot(page, "9.4-05-project")

    page.get_by_role("link", name="Role assignments").click()
    page.get_by_label("Who", exact=True).select_option(label=group)
    page.get_by_label("Role", exact=True).select_option(label="member")
    page.get_by_label("On", exact=True).select_option(label=project)
    page.get_by_role("button", name="Grant").click()
    assert notice(page) == "Role granted."
    page.get_by_label("Who", exact=True).select_option(label=user)
    page.get_by_label("Role", exact=True).select_option(label=role)
    page.get_by_label("On", exact=True).select_option(label=project)
    page.get_by_role("button", name="Grant").click()
    assert notice(page) == "Role granted."
    shot(page, "9.4-06-assignments")

    # The effective view: member through the group, the new role and what it implies.
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_role("link", name=user).click()
    effective = page.locator("table").last.inner_text()
    for r in ("member", role, "reader"):
        assert r in effective, effective
    shot(page, "9.4-07-effective-roles")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()

    # She logs in and sees exactly her project.
    login(page, user, password)
    shot(page, "9.4-08-alice-overview")
    assert page.locator("#my-projects li").all_inner_texts() == [project]
    options = page.get_by_label("Working in").locator("option").all_inner_texts()
    assert options == [f"Project {project}"], options
    roles = sorted(page.locator("#my-roles li").all_inner_texts())
    assert roles == sorted(["member", role, "reader"]), roles


def test_a_reader_sees_no_create_controls_and_forged_requests_fail(page, nimbus):
    expect = playwright.expect
    cli = nimbus.admin_cli()
    project, reader = unique("rproj"), unique("reader")
    password = "Reader-pw-" + unique("x")
    cli.run("project", "create", project)
    cli.run("user", "create", "--password", password, reader)
    cli.run("role", "add", "--user", reader, "--project", project, "reader")
    login(page, reader, password)
    for path in ("/console/users", "/console/groups", "/console/roles", "/console/projects",
                 "/console/assignments"):
        page.goto(path)
        assert page.get_by_role("button", name=re.compile("^(Create|Grant|Delete|Revoke)")).count() \
            == 0, path
    shot(page, "reader-users")

    # A form without the token, and one with a token made for another session.
    no_token = page.request.post("/console/users", form={"name": unique("evil")})
    assert no_token.status == 403, no_token.status
    other = page.context.browser.new_context(base_url=nimbus.url, ignore_https_errors=True)
    admin_page = other.new_page()
    login(admin_page, "admin", ADMIN_PASSWORD)
    admin_page.goto("/console/users")
    admin_token = admin_page.locator("input[name=csrf]").first.get_attribute("value")
    other.close()
    foreign = page.request.post("/console/users",
                                form={"csrf": admin_token, "name": unique("evil")})
    assert foreign.status == 403, foreign.status
    # The reader's own token gets through the console, and the API's policy refuses.
    page.goto("/console/users")
    own = page.locator("input[name=csrf]").first.get_attribute("value")
    evil = unique("evil")
    refused = page.request.post("/console/users", form={"csrf": own, "name": evil,
                                                        "domain_id": "default"})
    assert refused.ok  # the redirect back with the API's refusal
    assert "error=" in refused.url and evil not in cli.run("user", "list").stdout
    expect(page.locator("body")).to_be_visible()


def test_cookies_are_httponly_samesite_strict_and_login_checks_its_token(page, nimbus):
    login(page, "admin", ADMIN_PASSWORD)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["nimbus_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict", session
    assert session["secure"] is nimbus.tls
    # A login posted without the form's cookie (another site's form) is refused.
    fresh = page.context.browser.new_context(base_url=nimbus.url, ignore_https_errors=True)
    forged = fresh.request.post("/login", form={"csrf": "0" * 32, "domain": "Default",
                                               "user": "admin", "password": ADMIN_PASSWORD})
    assert forged.status == 403, forged.status
    fresh.close()
    # Logging out revokes the token: the old cookie no longer opens a page.
    token = session["value"]
    page.get_by_role("button", name="Log out").click()
    again = page.context.browser.new_context(base_url=nimbus.url, ignore_https_errors=True)
    again.add_cookies([{"name": "nimbus_session", "value": token, "url": nimbus.url}])
    p2 = again.new_page()
    p2.goto("/console/users")
    assert p2.url.endswith("/login"), p2.url
    again.close()


def _passcode(secret: str, at: float | None = None) -> str:
    """RFC 6238 (SHA1, 6 digits, 30 s), as an authenticator app computes it."""
    import base64
    import hashlib
    import hmac
    import struct
    import time
    step = int((at if at is not None else time.time()) // 30)
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 15
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def test_totp_enrolment_makes_logins_ask_for_a_passcode(page, nimbus):
    expect = playwright.expect
    cli = nimbus.admin_cli()
    project, user = unique("mfaproj"), unique("carol")
    password = "Carol-pw-" + unique("x")
    cli.run("project", "create", project)
    cli.run("user", "create", "--password", password, user)
    cli.run("role", "add", "--user", user, "--project", project, "member")
    login(page, user, password)
    page.get_by_role("link", name="Two-factor login").click()
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Passcode").fill("000000" if _passcode(secret) != "000000" else "111111")
    page.get_by_role("button", name="Turn on two-factor login").click()
    assert "does not match" in notice(page)
    page.get_by_label("Passcode").fill(_passcode(secret))
    page.get_by_role("button", name="Turn on two-factor login").click()
    assert notice(page) == "Two-factor login is on."
    expect(page.locator("#mfa-on")).to_be_visible()
    shot(page, "mfa-enrolled")
    page.get_by_role("button", name="Log out").click()

    # The password alone no longer logs in: the console asks for the passcode.
    page.goto("/login")
    page.get_by_label("Domain").fill("Default")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    code_box = page.get_by_label("Passcode from your authenticator app")
    expect(code_box).to_be_visible()
    shot(page, "mfa-passcode-asked")
    code_box.fill(_passcode(secret))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert page.locator("#my-projects li").all_inner_texts() == [project]
    # And the CLI with the password alone is refused too (Keystone's MFA rules).
    refused = nimbus.user_cli(user, password, project=project).run("token", "issue", check=False)
    assert refused.returncode != 0 and "required auth rules" in refused.stderr, refused


NAV_PAGES = ["/", "/console/users", "/console/groups", "/console/roles", "/console/projects",
             "/console/assignments", "/console/servers", "/console/keypairs", "/console/images",
             "/console/networks", "/console/routers", "/console/security-groups",
             "/console/floating-ips", "/console/volumes", "/console/mfa", "/console/status"]

# Every visible form control without a label (its own <label>, or aria-label).
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(el => el.type !== 'hidden')
  .filter(el => el.tagName === 'BUTTON' ? !el.innerText.trim()
                : !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.outerHTML)"""


def test_every_control_is_labelled_reachable_by_keyboard_and_the_first_page_is_light(page, nimbus):
    transferred = []
    page.on("response", lambda r: transferred.append(len(r.body())) if r.ok else None)
    page.goto("/login")
    assert sum(transferred) < 300_000, transferred
    assert page.evaluate(UNLABELLED) == []
    # The login works from the keyboard alone.
    page.keyboard.type("admin")  # the user name field has the focus first
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    playwright.expect(page.get_by_role("button", name="Log out")).to_be_visible()
    transferred.clear()
    page.goto("/")
    assert sum(transferred) < 300_000, transferred
    for path in NAV_PAGES:
        page.goto(path)
        assert page.evaluate(UNLABELLED) == [], path
        assert page.locator("h1").count() == 1, path


def test_a_domain_manager_sees_and_manages_only_her_domain(page, nimbus):
    cli = nimbus.admin_cli()
    domain, manager, other = unique("dom"), unique("dm"), unique("inside")
    password = "Manager-pw-" + unique("x")
    cli.run("domain", "create", domain)
    cli.run("user", "create", "--domain", domain, "--password", password, manager)
    cli.run("user", "create", "--domain", domain, "--password", password, other)
    cli.run("role", "add", "--user", manager, "--user-domain", domain, "--domain", domain,
            "manager")
    login(page, manager, password, domain=domain)
    page.get_by_role("link", name="Users", exact=True).click()
    names = page.locator("tbody tr td:first-child").all_inner_texts()
    assert sorted(names) == sorted([manager, other]), names
    domains = page.get_by_label("Domain").locator("option").all_inner_texts()
    assert len(domains) == 1, domains
    newcomer = unique("new")
    page.get_by_label("Name", exact=True).fill(newcomer)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create user").click()
    assert notice(page) == f"User {newcomer} created."
    shown = cli.json("user", "show", "--domain", domain, newcomer)
    assert shown["domain_id"] == cli.json("domain", "show", domain)["id"]
    # She may not grant admin (the API refuses; the console shows its message).
    page.get_by_role("link", name="Role assignments").click()
    page.get_by_label("Who", exact=True).select_option(label=newcomer)
    page.get_by_label("Role", exact=True).select_option(label="admin")
    page.get_by_label("On", exact=True).select_option(label=domain)
    page.get_by_role("button", name="Grant").click()
    assert page.locator(".error").count() == 1
    shot(page, "domain-manager")


def test_the_new_user_launches_a_server_and_sees_it_become_active(vm_page, vm_cloud):
    """The end of workflow 9.4: the new user logs in, sees exactly her project
    and launches a server there from the console; its status turns ACTIVE on
    the list without a reload."""
    page = vm_page
    cli = vm_cloud.admin_cli()
    project, user = unique("launch"), unique("dora")
    password = "Dora-pw-" + unique("x")
    cli.run("project", "create", project)
    cli.run("user", "create", "--password", password, user)
    cli.run("role", "add", "--user", user, "--project", project, "member")
    login(page, user, password)
    assert page.locator("#my-projects li").all_inner_texts() == [project]
    page.get_by_role("link", name="Networks").click()
    page.get_by_label("Name", exact=True).fill("net1")
    page.get_by_label("Subnet range (CIDR)").fill("192.168.77.0/24")
    page.get_by_role("button", name="Create network").click()
    assert notice(page) == "Network net1 created."
    page.get_by_role("link", name="Servers").click()
    name = unique("web")
    page.get_by_label("1. Name").fill(name)
    page.get_by_label("2. Flavor (size)").select_option(label="nimbus.tiny")
    page.get_by_label("3. Image").select_option(label="nimbus-guest")
    page.get_by_label("5. Network").select_option(label="net1")
    page.get_by_role("button", name="Launch").click()
    assert notice(page) == f"Server {name} is being built."
    row = page.locator("#servers tr", has_text=name)
    playwright.expect(row).to_be_visible()
    # No reload from here: the live table turns ACTIVE by itself.
    playwright.expect(row.locator("td").nth(1)).to_have_text("ACTIVE", timeout=300_000)
    shot(page, "9.4-09-server-active")
    page.get_by_role("link", name=name).click()
    playwright.expect(page.locator("#console-log")).to_contain_text("nimbus-guest ready",
                                                                    timeout=300_000)
    page.get_by_role("button", name="Delete").click()
    assert notice(page) == "Server deleted."


def test_the_status_page_is_public_and_admins_manage_incidents_in_the_console(page, nimbus):
    expect = playwright.expect
    page.goto("/status")
    expect(page.get_by_role("heading", name="Service status")).to_be_visible()
    components = page.locator("#components tbody tr td:first-child").all_inner_texts()
    for c in ("Identity", "Compute", "Block Storage", "Console"):
        assert c in components, components
    shot(page, "status-public")

    login(page, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="Service status").click()
    title = unique("Slow volumes")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill("Volume creation takes longer than usual.")
    page.get_by_label("Block Storage").check()
    page.get_by_label("Severity").select_option(label="limited")
    page.get_by_role("button", name="Open incident").click()
    assert notice(page) == "Incident opened."
    page.get_by_label("Update").first.fill("A fix is being deployed.")
    page.get_by_role("button", name="Post update").first.click()
    assert notice(page) == "Update posted."
    shot(page, "status-admin")

    # Anybody sees it, without a login.
    anonymous = page.context.browser.new_context(base_url=nimbus.url, ignore_https_errors=True)
    public = anonymous.new_page()
    public.goto("/status")
    expect(public.get_by_role("heading", name=title)).to_be_visible()
    row = public.locator("#components tr", has_text="Block Storage")
    expect(row.locator("td").nth(1)).to_have_text("limited")
    anonymous.close()

    page.goto("/console/status")
    page.get_by_role("button", name="End incident").first.click()
    assert notice(page) == "Incident ended."
    page.goto("/status")
    expect(page.locator("#components tr", has_text="Block Storage").locator("td").nth(1)) \
        .to_have_text("operational")
