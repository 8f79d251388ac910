"""Security groups enforced on real guests (ADR 0007): two servers on `private`,
B in a group that admits only tcp/22 and icmp. From A (reached with `nimbus ssh`,
which comes from the trusted DHCP namespace), B's port 22 answers and 8080 does
not; a new rule opens 8080 within a second; a `remote_group_id` rule admits A
while A is in the remote group and refuses it once A's port leaves the group."""

from __future__ import annotations

import os
import time

import pytest

from nimbus_e2e import unique
from test_servers_vm import _keypair, _ssh_ok, _wait

pytestmark = pytest.mark.skipif(
    os.environ.get("NIMBUS_E2E_VM") == "0", reason="NIMBUS_E2E_VM=0: VM tests disabled"
)


def _fetch(cloud, server, key, ip, port, timeout=2):
    """From `server`: GET http://ip:port/ over busybox nc (the static busybox's wget
    crashes resolving); the body or None."""
    request = r"printf 'GET / HTTP/1.0\r\n\r\n'"
    proc = cloud.ssh(server, key, f"{request} | nc -w {timeout} {ip} {port}")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or " 200 " not in lines[0]:
        return None
    return lines[-1].strip()


def _banner(cloud, server, key, ip, port=22):
    """From `server`: the first line a TCP server at ip:port sends, or None."""
    # ssh joins its arguments into one remote shell command line: pass one string.
    proc = cloud.ssh(server, key, f"nc -w 2 {ip} {port} </dev/null | head -n 1")
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


def test_security_groups_between_guests(vm_cloud, tmp_path):
    cli = vm_cloud.admin_cli()
    key_name, key = _keypair(cli, tmp_path)
    web, clients = unique("sgweb"), unique("sgclient")
    cli.run("security", "group", "create", web)
    cli.run("security", "group", "create", clients)
    cli.run("security", "group", "rule", "create", "--ingress", "--protocol", "tcp",
            "--dst-port", "22", web)
    cli.run("security", "group", "rule", "create", "--ingress", "--protocol", "icmp", web)

    a, b = unique("sga"), unique("sgb")
    servers = []
    try:
        for name, group in ((a, clients), (b, web)):
            cli.run("server", "create", "--flavor", "nimbus.tiny", "--image", "nimbus-guest",
                    "--network", "private", "--key-name", key_name, "--security-group", group,
                    name)
            servers.append(name)
        for name in servers:
            _wait(lambda n=name: cli.json("server", "show", n)["status"] == "ACTIVE"
                  or None, 300, f"{name} ACTIVE", interval=2)
        b_ip = cli.json("server", "show", b)["addresses"]["private"][0]
        _ssh_ok(vm_cloud, a, key, "echo", "up", timeout=300)
        # httpd daemonizes; without its descriptors pointed away from the session,
        # ssh would wait for them to close.
        quiet = "</dev/null >/dev/null 2>&1"
        _ssh_ok(vm_cloud, b, key,
                "mkdir -p /tmp/www && echo hello-from-b > /tmp/www/index.html"
                # (a retry after a lost session finds the ports taken: not an error)
                f" && {{ httpd -p 8080 -h /tmp/www {quiet}; httpd -p 9090 -h /tmp/www {quiet};"
                " echo started; }",
                timeout=300)

        # tcp/22 is admitted, 8080 is not (and 8080 does listen: B reaches itself).
        assert (_banner(vm_cloud, a, key, b_ip) or "").startswith("SSH-"), "tcp/22 from A"
        assert _fetch(vm_cloud, b, key, "127.0.0.1", 8080) == "hello-from-b"
        assert _fetch(vm_cloud, a, key, b_ip, 8080) is None, "tcp/8080 must be blocked"

        # A rule for 8080 opens it within a second of the API answer.
        cli.run("security", "group", "rule", "create", "--ingress", "--protocol", "tcp",
                "--dst-port", "8080", web)
        created = time.monotonic()
        assert _fetch(vm_cloud, a, key, b_ip, 8080, timeout=1) == "hello-from-b"
        # The ssh round trip itself takes time: the rule was in force before it began.
        assert time.monotonic() - created < 10

        # remote_group_id: 9090 only from members of `clients`.
        assert _fetch(vm_cloud, a, key, b_ip, 9090) is None
        cli.run("security", "group", "rule", "create", "--ingress", "--protocol", "tcp",
                "--dst-port", "9090", "--remote-group", clients, web)
        assert _fetch(vm_cloud, a, key, b_ip, 9090) == "hello-from-b", "a member is admitted"
        a_id = cli.json("server", "show", a)["id"]
        a_port = cli.json("port", "list", "--device-id", a_id)[0]["ID"]
        # By id: an admin sees every project's `default` group, so the name is ambiguous.
        project = cli.json("token", "issue")["project_id"]
        default = next(g["ID"] for g in cli.json("security", "group", "list", "--project",
                                                   project) if g["Name"] == "default")
        cli.run("port", "set", "--no-security-group", "--security-group", default, a_port)
        time.sleep(0.5)
        assert _fetch(vm_cloud, a, key, b_ip, 9090) is None, "a non-member is refused"
        assert (_banner(vm_cloud, a, key, b_ip) or "").startswith("SSH-"), "22 stays open"
    finally:
        for name in servers:
            cli.run("server", "delete", "--wait", name, check=False)
        cli.run("security", "group", "delete", web, clients, check=False)
