"""Agent robustness with a real guest behind the bootstrap router (issue 4, point 3):
a killed dnsmasq and a deleted router namespace come back on their own; an SSH session
through a floating IP survives a restart of `nimbus serve`, which reloads the same
nftables rules (none duplicated) and the same links; deleting a router and a network
removes their namespace, veths and bridge from the host."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from host_state import cloud_tag, namespaces
from nimbus_e2e import NimbusServer, unique
from test_routers_fip_vm import _ssh_fip, _ssh_group
from test_servers_vm import BOOT_TIMEOUT, _keypair, _wait

pytestmark = pytest.mark.skipif(
    os.environ.get("NIMBUS_E2E_VM") == "0", reason="NIMBUS_E2E_VM=0: VM tests disabled"
)


def _sh(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def _links(netns: str) -> set[str]:
    out = _sh("ip", "-n", netns, "-o", "link", "show")
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _dnsmasq_pid(cloud: NimbusServer, network_id: str) -> int | None:
    pidfile = cloud.data_dir / "dhcp" / network_id / "dnsmasq.pid"
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"dnsmasq" in cmdline else None


def _rulesets(netns: list[str]) -> dict[str, str]:
    return {ns: _sh("ip", "netns", "exec", ns, "nft", "list", "ruleset") for ns in netns}


def test_dataplane_heals_and_a_restart_keeps_connections(start_server, tmp_path):
    cloud = start_server("robust", guest=True)
    cli = cloud.admin_cli()
    key_name, key = _keypair(cli, tmp_path)
    group = _ssh_group(cli)
    tag = cloud_tag(cloud.data_dir)
    dataplane = f"nimbus-dp-{tag}"
    name = unique("robust")
    cli.run("server", "create", "--flavor", "nimbus.tiny", "--image", "nimbus-guest",
            "--network", "private", "--key-name", key_name, "--security-group", group, name)
    _wait(lambda: cli.json("server", "show", name)["status"] == "ACTIVE", BOOT_TIMEOUT,
          f"{name} ACTIVE", interval=2)
    fip = cli.json("floating", "ip", "create", "public")["floating_ip_address"]
    cli.run("server", "add", "floating", "ip", name, fip)
    assert _ssh_fip(cloud, key, fip, "hostname").strip() == name

    # A killed dnsmasq is started again (by PID: it is this test's cloud's process).
    private = cli.json("network", "show", "private")["id"]
    old = _dnsmasq_pid(cloud, private)
    assert old, "dnsmasq of private runs"
    os.kill(old, signal.SIGKILL)
    _wait(lambda: (_dnsmasq_pid(cloud, private) or old) != old, 30, "a new dnsmasq")

    # A deleted router namespace is recreated, NAT and all.
    router_id = cli.json("router", "show", "router")["id"]
    router_ns = f"nimbus-r-{tag}-{router_id.replace('-', '')[:8]}"
    assert router_ns in namespaces(cloud.data_dir)
    subprocess.run(["ip", "netns", "delete", router_ns], check=True)
    _wait(lambda: router_ns in namespaces(cloud.data_dir), 30, f"{router_ns} recreated")
    assert _ssh_fip(cloud, key, fip, "hostname", timeout=60).strip() == name

    # An SSH session through the floating IP outlives a restart of the control plane
    # and its agent; the restarted agent loads the same rules and links, no duplicates.
    watched = [dataplane, router_ns, f"nimbus-ext-{tag}"]
    before = _rulesets(watched)
    links_before = {ns: _links(ns) for ns in watched}
    session = subprocess.Popen(
        ["ip", "netns", "exec", f"nimbus-ext-{tag}", "ssh", "-i", str(key),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", "-o", "ServerAliveInterval=0", f"nimbus@{fip}",
         "for i in $(seq 1 20); do echo tick $i; sleep 1; done"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert session.stdout.readline().strip() == "tick 1"
        cloud.stop(teardown=False)
        cloud.start()
        out, err = session.communicate(timeout=120)
    finally:
        if session.poll() is None:
            session.kill()
    assert session.returncode == 0 and out.splitlines()[-1] == "tick 20", (out, err)
    # Let the restarted agent finish its first passes, then compare.
    time.sleep(3)
    assert _rulesets(watched) == before
    assert {ns: _links(ns) for ns in watched} == links_before

    # Deleting a router and a network removes what they made on the host.
    net, router = unique("rbnet"), unique("rbrtr")
    links_without = _links(dataplane)
    cli.run("network", "create", net)
    cli.run("subnet", "create", "--network", net, "--subnet-range", "10.73.0.0/24",
            f"{net}-sub")
    cli.run("router", "create", router)
    cli.run("router", "set", "--external-gateway", "public", router)
    cli.run("router", "add", "subnet", router, f"{net}-sub")
    rid = cli.json("router", "show", router)["id"]
    nid = cli.json("network", "show", net)["id"]
    ns = f"nimbus-r-{tag}-{rid.replace('-', '')[:8]}"
    bridge = f"nbr-{nid.replace('-', '')[:11]}"
    _wait(lambda: ns in namespaces(cloud.data_dir) and bridge in _links(dataplane), 30,
          f"{ns} and {bridge}")
    cli.run("router", "remove", "subnet", router, f"{net}-sub")
    cli.run("router", "delete", router)
    cli.run("network", "delete", net)
    _wait(lambda: ns not in namespaces(cloud.data_dir) and bridge not in _links(dataplane), 30,
          f"{ns} and {bridge} removed")
    assert _links(dataplane) == links_without

    cli.run("server", "delete", "--wait", name)
    cli.run("floating", "ip", "delete", fip)
    cli.run("security", "group", "delete", group)
