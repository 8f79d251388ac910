"""Workflow 9.1 with real guests: servers that boot under QEMU (TCG here), reached
over SSH with the injected key through `nimbus ssh`, driven by the real
`openstack` CLI and openstacksdk. Each test cleans up its servers; the `vm_cloud`
fixture tears every guest and namespace down at the end."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import openstack
import pytest
import requests

from nimbus_e2e import ADMIN_PASSWORD, GUEST_DIR, NimbusServer, unique

BOOT_TIMEOUT = 300  # TCG boots on a busy 2-core machine
READY = re.compile(r"nimbus-guest ready: hostname=(\S+) addresses=(\S*)")

pytestmark = pytest.mark.skipif(
    os.environ.get("NIMBUS_E2E_VM") == "0", reason="NIMBUS_E2E_VM=0: VM tests disabled"
)


def _keypair(cli, tmp_path: Path) -> tuple[str, Path]:
    name = unique("key")
    key = tmp_path / name
    cli.run("keypair", "create", "--private-key", str(key), name)
    key.chmod(0o600)
    return name, key


def _wait(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")


def _status(cli, server: str) -> dict:
    return cli.json("server", "show", server)


def _wait_status(cli, server: str, status: str, timeout: float = BOOT_TIMEOUT) -> dict:
    def check():
        s = _status(cli, server)
        if s["status"] == "ERROR" and status != "ERROR":
            raise AssertionError(f"server {server} went ERROR: {s.get('fault')}")
        return s if s["status"] == status else None
    return _wait(check, timeout, f"{server} to be {status}", interval=2)


def _console_ready(cli, server: str, timeout: float = BOOT_TIMEOUT) -> re.Match:
    def check():
        out = cli.run("console", "log", "show", server).stdout
        matches = list(READY.finditer(out))
        return matches[-1] if matches else None
    return _wait(check, timeout, f"the ready line of {server}", interval=2)


def _qemu_pids(server_id: str) -> list[int]:
    """QEMU processes whose command line names this server."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in cmdline and server_id in cmdline:
            pids.append(int(proc.name))
    return pids


def _ssh_ok(cloud: NimbusServer, server: str, key: Path, *command: str,
            timeout: float = 120) -> str:
    """Runs a command through `nimbus ssh`, retrying while sshd comes up."""
    def attempt():
        proc = cloud.ssh(server, key, *command)
        return proc.stdout if proc.returncode == 0 else None
    return _wait(attempt, timeout, f"ssh to {server}", interval=3)


def test_workflow_9_1_with_the_cli(vm_cloud, tmp_path):
    cli = vm_cloud.admin_cli()
    key_name, key = _keypair(cli, tmp_path)
    user_data = tmp_path / "user-data.sh"
    user_data.write_text("#!/bin/sh\necho user-data-ran > /root/user-data-marker\n")
    name = unique("vm")

    created = cli.json("server", "create", "--flavor", "nimbus.tiny", "--image", "nimbus-guest",
                       "--network", "private", "--key-name", key_name,
                       "--user-data", str(user_data), "--wait", name)
    assert created["status"] == "ACTIVE", created
    server_id = created["id"]
    shown = _status(cli, name)
    assert "private" in str(shown["addresses"]), shown
    assert shown["flavor"], shown

    ready = _console_ready(cli, name)
    assert ready.group(1) == name
    address = shown["addresses"]["private"][0]
    assert address.startswith("10.0.0."), shown["addresses"]
    assert f"addresses={address}/24" in ready.group(0)

    assert _ssh_ok(vm_cloud, name, key, "hostname").strip() == name
    pub = Path(str(key) + ".pub").read_text().split()[1] if Path(str(key) + ".pub").exists() else None
    keys = _ssh_ok(vm_cloud, name, key, "cat", "/home/nimbus/.ssh/authorized_keys")
    if pub:
        assert pub in keys
    assert "user-data-ran" in _ssh_ok(vm_cloud, name, key, "cat", "/root/user-data-marker")
    # no --config-drive: the key and the user data came from the metadata service
    assert _ssh_ok(vm_cloud, name, key, "cat", "/run/nimbus/source").strip() == "metadata-service"
    assert len(_qemu_pids(server_id)) == 1

    # stop, start, reboot
    cli.run("server", "stop", name)
    _wait_status(cli, name, "SHUTOFF", timeout=120)
    _wait(lambda: not _qemu_pids(server_id), 60, "QEMU to exit after stop")
    cli.run("server", "start", name)
    _wait_status(cli, name, "ACTIVE")
    assert _ssh_ok(vm_cloud, name, key, "hostname").strip() == name
    cli.run("server", "reboot", "--hard", name)
    _wait_status(cli, name, "ACTIVE")
    assert _ssh_ok(vm_cloud, name, key, "hostname").strip() == name
    # createImage: a snapshot of the running guest's disk, as a Glance image
    snapshot = unique("snap")
    cli.run("server", "image", "create", "--name", snapshot, "--wait", name)
    image = cli.json("image", "show", snapshot)
    assert image["status"] == "active" and image["size"] > 0, image
    assert image["properties"]["image_type"] == "snapshot", image
    assert image["properties"]["instance_uuid"] == server_id, image
    cli.run("image", "delete", snapshot)
    actions = {a["Action"] for a in cli.json("server", "event", "list", name)}
    assert {"create", "stop", "start", "reboot", "createImage"} <= actions, actions

    # delete leaves nothing behind
    ports = cli.json("port", "list", "--device-id", server_id)
    assert len(ports) == 1
    mac = ports[0]["MAC Address"]
    cli.run("server", "delete", "--wait", name)
    assert not _qemu_pids(server_id)
    assert not (vm_cloud.data_dir / "instances" / server_id).exists()
    assert cli.json("port", "list", "--device-id", server_id) == []
    hosts = " ".join(p.read_text() for p in vm_cloud.data_dir.glob("dhcp/*/hosts*"))
    assert mac not in hosts
    taps = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert ("ntap" + ports[0]["ID"].replace("-", "")[:11]) not in taps


def test_openstacksdk_create_server(vm_cloud, tmp_path):
    conn = openstack.connection.Connection(
        auth_url=vm_cloud.identity_url, username="admin", password=ADMIN_PASSWORD,
        project_name="admin", user_domain_name="Default", project_domain_name="Default")
    key_name = unique("sdkkey")
    keypair = conn.compute.create_keypair(name=key_name)
    key = tmp_path / key_name
    key.write_text(keypair.private_key)
    key.chmod(0o600)
    name = unique("sdkvm")
    server = conn.create_server(name, image="nimbus-guest", flavor="nimbus.tiny",
                                network="private", key_name=key_name, auto_ip=False,
                                wait=True, timeout=BOOT_TIMEOUT)
    try:
        assert server.status == "ACTIVE"
        assert server.addresses["private"][0]["OS-EXT-IPS:type"] == "fixed"
        assert _ssh_ok(vm_cloud, name, key, "hostname").strip() == name
    finally:
        conn.delete_server(server.id, wait=True, timeout=120)
    assert conn.get_server(server.id) is None


def test_anti_affinity_on_one_host_fails_the_second(vm_cloud):
    cli = vm_cloud.admin_cli()
    group = cli.json("server", "group", "create", "--policy", "anti-affinity", unique("grp"))
    first, second = unique("aa1"), unique("aa2")
    common = ["--flavor", "nimbus.tiny", "--image", "nimbus-guest", "--network", "private",
              "--hint", f"group={group['id']}"]
    cli.run("server", "create", *common, first)
    try:
        _wait(lambda: _status(cli, first)["status"] != "BUILD" or
              _status(cli, first).get("OS-EXT-SRV-ATTR:host"), 60, "the first to be placed")
        cli.run("server", "create", *common, second)
        failed = _wait_status(cli, second, "ERROR", timeout=60)
        assert "No valid host" in str(failed.get("fault")), failed
        assert _wait_status(cli, first, "ACTIVE")["status"] == "ACTIVE"
    finally:
        cli.run("server", "delete", "--wait", first, second, check=False)
        cli.run("server", "group", "delete", group["id"], check=False)


def test_other_project_sees_nothing(vm_cloud):
    cli = vm_cloud.admin_cli()
    name = unique("private-vm")
    server = cli.json("server", "create", "--flavor", "nimbus.tiny", "--image", "nimbus-guest",
                      "--network", "private", name)
    try:
        ks = vm_cloud.keystone()
        user, password = unique("other"), "Other-" + unique("pw")
        project = ks.create_project(unique("otherproj"))
        created = ks.create_user(user, password)
        ks.grant("member", user_id=created["id"], project_id=project["id"])
        other = vm_cloud.user_cli(user, password, project=project["name"])
        assert name not in str(other.json("server", "list"))
        # the CLI asks GET /servers/{id} (404), then ?name= (nothing)
        assert "No Server found" in other.fails("server", "show", server["id"]).stderr
        other.fails("server", "delete", server["id"])
        assert _status(cli, name)["id"] == server["id"]
    finally:
        cli.run("server", "delete", "--wait", name, check=False)


def test_bad_references_fail_fast(vm_cloud):
    cli = vm_cloud.admin_cli()
    name = unique("bad")
    base = ["server", "create", "--network", "private", name]
    cli.fails(*base[:2], "--flavor", "no-such-flavor", "--image", "nimbus-guest", *base[2:])
    cli.fails(*base[:2], "--flavor", "nimbus.tiny", "--image", "no-such-image", *base[2:])
    cli.fails("server", "create", "--flavor", "nimbus.tiny", "--image", "nimbus-guest",
              "--network", "no-such-network", name)
    # straight to the API: the upstream codes, and nothing stored
    ks = vm_cloud.keystone()
    token = ks.admin_token()
    image = cli.json("image", "show", "nimbus-guest")["id"]
    url = vm_cloud.url + "/compute/v2.1/servers"
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"}
    for body, code in [
        ({"name": name, "imageRef": image, "flavorRef": "nope", "networks": "auto"}, 400),
        ({"name": name, "imageRef": "not-a-uuid", "flavorRef": "nimbus.tiny", "networks": "auto"}, 400),
        ({"name": name, "imageRef": image, "flavorRef": "nimbus.tiny",
          "networks": [{"uuid": "8b5b1f4e-0000-4000-8000-000000000000"}]}, 400),
        ({"name": name, "imageRef": image, "flavorRef": "nimbus.tiny", "networks": "bogus"}, 400),
        ({"name": "", "imageRef": image, "flavorRef": "nimbus.tiny", "networks": "auto"}, 400),
        ({"name": name, "imageRef": image, "flavorRef": "nimbus.tiny", "networks": "auto",
          "user_data": "%%%not base64"}, 400),
    ]:
        resp = requests.post(url, json={"server": body}, headers=headers, timeout=30)
        assert resp.status_code == code, (body, resp.status_code, resp.text)
        assert "message" in str(resp.json()), resp.text
    assert name not in str(cli.json("server", "list"))


def test_kill_9_during_build_converges_to_one_guest(start_server, tmp_path):
    cloud = start_server("crash", guest=True)
    cli = cloud.admin_cli()
    name = unique("crashvm")
    server = cli.json("server", "create", "--flavor", "nimbus.tiny", "--image", "nimbus-guest",
                      "--network", "private", name)
    assert server["status"] == "BUILD"
    # Crash while the server is building: once the agent is at work on it.
    _wait(lambda: _status(cli, name).get("OS-EXT-SRV-ATTR:host"), 60, "the server to be placed",
          interval=0.2)
    cloud.kill9()
    cloud.start()
    active = _wait_status(cli, name, "ACTIVE")
    time.sleep(3)  # a duplicate launch would show up by now
    assert len(_qemu_pids(active["id"])) == 1, _qemu_pids(active["id"])
    _console_ready(cli, name)
    cli.run("server", "delete", "--wait", name)
    assert not _qemu_pids(active["id"])


def test_guest_survives_a_restart_and_is_adopted(start_server, tmp_path):
    cloud = start_server("adopt", guest=True)
    cli = cloud.admin_cli()
    key_name, key = _keypair(cli, tmp_path)
    name = unique("adoptvm")
    server = cli.json("server", "create", "--flavor", "nimbus.tiny", "--image", "nimbus-guest",
                      "--network", "private", "--key-name", key_name, "--wait", name)
    pids = _qemu_pids(server["id"])
    assert len(pids) == 1
    cloud.stop(teardown=False)
    assert _qemu_pids(server["id"]) == pids  # guests outlive the control plane
    cloud.start()
    time.sleep(3)
    assert _status(cli, name)["status"] == "ACTIVE"
    assert _qemu_pids(server["id"]) == pids  # adopted, not started again
    assert _ssh_ok(cloud, name, key, "hostname").strip() == name
    cli.run("server", "delete", "--wait", name)


@pytest.mark.skipif(not (GUEST_DIR / "bios.qcow2").exists(),
                    reason="guest/build-bios-image has not built guest/.out/bios.qcow2")
def test_an_ordinary_bios_disk_image_boots(vm_cloud, tmp_path):
    cli = vm_cloud.admin_cli()
    image = unique("bios-img")
    cli.run("image", "create", "--disk-format", "qcow2", "--container-format", "bare",
            "--file", str(GUEST_DIR / "bios.qcow2"), "--property", "os_admin_user=nimbus", image)
    key_name, key = _keypair(cli, tmp_path)
    name = unique("biosvm")
    try:
        cli.json("server", "create", "--flavor", "nimbus.tiny", "--image", image,
                 "--network", "private", "--key-name", key_name, "--wait", name)
        assert _console_ready(cli, name).group(1) == name
        assert _ssh_ok(vm_cloud, name, key, "hostname").strip() == name
    finally:
        cli.run("server", "delete", "--wait", name, check=False)
        cli.run("image", "delete", image, check=False)
