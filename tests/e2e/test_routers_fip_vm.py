"""Routers and floating IPs with real guests: a router joins a new tenant
network to the external network `public`; a server behind it gets a floating IP
(`openstack floating ip create public` + `server add floating ip`) and is reached
over SSH from the cloud's "outside world" namespace `nimbus-ext-<tag>` (the
only place the host reaches floating IPs from: nothing is routed in the root
namespace); two servers on two subnets joined by a router reach each other;
openstacksdk's `auto_ip=True` flow gets a floating address on its own."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import openstack
import pytest

from host_state import cloud_tag
from nimbus_e2e import ADMIN_PASSWORD, NimbusServer, unique
from test_servers_vm import BOOT_TIMEOUT, _console_ready, _keypair, _ssh_ok, _wait

pytestmark = pytest.mark.skipif(
    os.environ.get("NIMBUS_E2E_VM") == "0", reason="NIMBUS_E2E_VM=0: VM tests disabled"
)


def _ext_netns(cloud: NimbusServer) -> str:
    """The cloud's outside-world namespace: `nimbus-ext-` + the cloud's tag, the
    first 8 hex digits of SHA-256 of its canonical data dir (every cloud has one,
    since each bootstraps a router; several run at once in the suite)."""
    tag = cloud_tag(cloud.data_dir)
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"nimbus-ext-{tag}" in names, names
    return f"nimbus-ext-{tag}"


def _ssh_fip(cloud: NimbusServer, key: Path, fip: str, *command: str,
             timeout: float = 180) -> str:
    def attempt():
        proc = subprocess.run(
            ["ip", "netns", "exec", _ext_netns(cloud), "ssh", "-i", str(key),
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", f"nimbus@{fip}", *command],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        return proc.stdout if proc.returncode == 0 else None
    return _wait(attempt, timeout, f"ssh to {fip} from the outside world", interval=3)


def _ssh_group(cli) -> str:
    group = unique("fipsg")
    cli.run("security", "group", "create", group)
    cli.run("security", "group", "rule", "create", "--ingress", "--protocol", "tcp",
            "--dst-port", "22", group)
    cli.run("security", "group", "rule", "create", "--ingress", "--protocol", "icmp", group)
    return group


# Connects to ip:port every 10 ms from the namespace it runs in; prints the
# CLOCK_MONOTONIC time of the first success (system-wide, so comparable with ours).
PROBE = """
import socket, sys, time
ip, port, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    try:
        socket.create_connection((ip, port), timeout=0.05).close()
        print(time.monotonic(), flush=True)
        sys.exit(0)
    except OSError:
        time.sleep(0.01)
sys.exit(1)
"""


def _probe(cloud: NimbusServer, ip: str, port: int, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        ["ip", "netns", "exec", _ext_netns(cloud), "python3", "-c", PROBE, ip, str(port),
         str(seconds)], stdout=subprocess.PIPE, text=True)


def _port_8080_opens_within_a_second(cloud, cli, key, fip: str, group: str) -> None:
    """The group admits tcp/22 and icmp only: 8080, where the guest listens, is
    blocked from the outside world until a rule opens it, within a second."""
    _ssh_fip(cloud, key, fip,
             "mkdir -p /tmp/www && echo hi > /tmp/www/index.html &&"
             " { httpd -p 8080 -h /tmp/www </dev/null >/dev/null 2>&1; echo started; }")
    blocked = _probe(cloud, fip, 8080, 2)
    assert blocked.wait(timeout=30) == 1, "tcp/8080 must be blocked"
    probe = _probe(cloud, fip, 8080, 60)
    try:
        cli.run("security", "group", "rule", "create", "--ingress", "--protocol", "tcp",
                "--dst-port", "8080", group)
        answered = time.monotonic()
        out, _ = probe.communicate(timeout=90)
    finally:
        if probe.poll() is None:
            probe.kill()
    assert probe.returncode == 0, "tcp/8080 never opened"
    assert float(out) - answered < 1.0, f"opened {float(out) - answered:.3f} s after the API"


def test_router_floating_ip_and_east_west(vm_cloud: NimbusServer, tmp_path):
    cli = vm_cloud.admin_cli()
    key_name, key = _keypair(cli, tmp_path)
    group = _ssh_group(cli)
    net_a, net_b, router = unique("neta"), unique("netb"), unique("rtr")
    servers: list[str] = []
    fip = None
    try:
        cli.run("network", "create", net_a)
        cli.run("subnet", "create", "--network", net_a, "--subnet-range", "10.71.0.0/24",
                f"{net_a}-sub")
        cli.run("network", "create", net_b)
        cli.run("subnet", "create", "--network", net_b, "--subnet-range", "10.72.0.0/24",
                f"{net_b}-sub")
        cli.run("router", "create", router)
        cli.run("router", "set", "--external-gateway", "public", router)
        cli.run("router", "add", "subnet", router, f"{net_a}-sub")
        cli.run("router", "add", "subnet", router, f"{net_b}-sub")
        shown = cli.json("router", "show", router)
        assert shown["external_gateway_info"]["network_id"], shown

        a, b = unique("vma"), unique("vmb")
        for name, net in ((a, net_a), (b, net_b)):
            cli.run("server", "create", "--flavor", "nimbus.tiny", "--image", "nimbus-guest",
                    "--network", net, "--key-name", key_name, "--security-group", group, name)
            servers.append(name)
        for name in servers:
            _wait(lambda n=name: cli.json("server", "show", n)["status"] == "ACTIVE",
                  BOOT_TIMEOUT, f"{name} ACTIVE", interval=3)

        fip = cli.json("floating", "ip", "create", "public")["floating_ip_address"]
        assert fip.startswith("203.0.113."), fip
        cli.run("server", "add", "floating", "ip", a, fip)
        addresses = cli.json("server", "show", a)["addresses"]
        assert fip in str(addresses), addresses
        assert _ssh_fip(vm_cloud, key, fip, "hostname").strip() == a
        _port_8080_opens_within_a_second(vm_cloud, cli, key, fip, group)
        # The root namespace has no route to the floating range.
        routes = subprocess.run(["ip", "route", "get", fip], capture_output=True, text=True)
        assert "nimbus" not in routes.stdout

        # East-west: a reaches b's fixed address through the router.
        b_ip = cli.json("server", "show", b)["addresses"][net_b][0]
        assert b_ip.startswith("10.72.0."), b_ip
        # b answers pings once it is up (ACTIVE comes before its network is).
        _console_ready(cli, b)
        out = _ssh_fip(vm_cloud, key, fip, "ping", "-c", "2", "-W", "3", b_ip)
        assert " 0% packet loss" in out, out

        cli.run("server", "remove", "floating", "ip", a, fip)
        assert fip not in str(cli.json("server", "show", a)["addresses"])
    finally:
        if servers:
            cli.run("server", "delete", "--wait", *servers, check=False)
        if fip:
            cli.run("floating", "ip", "delete", fip, check=False)
        cli.run("router", "remove", "subnet", router, f"{net_a}-sub", check=False)
        cli.run("router", "remove", "subnet", router, f"{net_b}-sub", check=False)
        cli.run("router", "delete", router, check=False)
        cli.run("network", "delete", net_a, net_b, check=False)
        cli.run("security", "group", "delete", group, check=False)


def test_openstacksdk_auto_ip(vm_cloud: NimbusServer, tmp_path):
    conn = openstack.connection.Connection(
        auth_url=vm_cloud.identity_url, username="admin", password=ADMIN_PASSWORD,
        project_name="admin", user_domain_name="Default", project_domain_name="Default")
    cli = vm_cloud.admin_cli()
    group = _ssh_group(cli)
    key_name = unique("sdkkey")
    keypair = conn.compute.create_keypair(name=key_name)
    key = tmp_path / key_name
    key.write_text(keypair.private_key)
    key.chmod(0o600)
    name = unique("autoip")
    # `private` is behind the bootstrap router `router`, whose gateway is on `public`.
    server = conn.create_server(name, image="nimbus-guest", flavor="nimbus.tiny",
                                network="private", key_name=key_name, auto_ip=True,
                                security_groups=[group], wait=True, timeout=BOOT_TIMEOUT)
    try:
        assert server.status == "ACTIVE"
        floating = [a for a in server.addresses["private"]
                    if a["OS-EXT-IPS:type"] == "floating"]
        assert len(floating) == 1, server.addresses
        fip = floating[0]["addr"]
        assert _ssh_fip(vm_cloud, key, fip, "hostname").strip() == name
    finally:
        conn.delete_server(server.id, wait=True, timeout=120, delete_ips=True)
        cli.run("security", "group", "delete", group, check=False)
    assert not conn.network.ips(floating_ip_address=fip) or \
        list(conn.network.ips(floating_ip_address=fip)) == []
