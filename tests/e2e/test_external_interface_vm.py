"""`nimbus serve --external-interface IFACE` (real deployments): the external network
`public` becomes the segment behind a host interface instead of the simulated outside
world. Here the "real" segment is a veth pair whose far end is in a namespace this test
creates (203.0.113.1 there, as a real upstream gateway would be): a server behind the
bootstrap router is reached through its floating IP from that namespace. A missing
interface is refused at start."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from host_state import cloud_tag, namespaces
from nimbus_e2e import BIN, free_port, unique
from test_routers_fip_vm import _ssh_group
from test_servers_vm import BOOT_TIMEOUT, _keypair, _wait

pytestmark = pytest.mark.skipif(
    os.environ.get("NIMBUS_E2E_VM") == "0", reason="NIMBUS_E2E_VM=0: VM tests disabled"
)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def test_a_missing_interface_is_refused_at_start(tmp_path):
    proc = subprocess.run(
        [str(BIN), "serve", "--data-dir", str(tmp_path / "d"),
         "--listen", f"127.0.0.1:{free_port()}", "--external-interface", "nvtnosuch0"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "nvtnosuch0: no such network interface" in proc.stderr, proc.stderr[-2000:]


def test_floating_ip_through_a_host_interface(start_server, tmp_path):
    suffix = secrets.token_hex(3)
    upstream = f"nimbus-test-up-{suffix}"
    host_end, far_end = f"nvtu{suffix}", f"nvtv{suffix}"
    _ip("netns", "add", upstream)
    try:
        _ip("link", "add", host_end, "type", "veth", "peer", "name", far_end,
            "netns", upstream)
        _ip("-n", upstream, "addr", "add", "203.0.113.1/24", "dev", far_end)
        _ip("-n", upstream, "link", "set", far_end, "up")
        _ip("-n", upstream, "link", "set", "lo", "up")

        cloud = start_server("uplink", "--external-interface", host_end, guest=True)
        tag = cloud_tag(cloud.data_dir)
        cli = cloud.admin_cli()
        key_name, key = _keypair(cli, tmp_path)
        group = _ssh_group(cli)
        name = unique("uplinkvm")
        cli.run("server", "create", "--flavor", "nimbus.tiny", "--image", "nimbus-guest",
                "--network", "private", "--key-name", key_name, "--security-group", group,
                name)
        _wait(lambda: cli.json("server", "show", name)["status"] == "ACTIVE", BOOT_TIMEOUT,
              f"{name} ACTIVE", interval=2)
        fip = cli.json("floating", "ip", "create", "public")["floating_ip_address"]
        cli.run("server", "add", "floating", "ip", name, fip)

        # The interface left the root namespace for the cloud's; no simulated gateway.
        assert not Path(f"/sys/class/net/{host_end}").exists()
        assert f"nimbus-ext-{tag}" not in namespaces(cloud.data_dir)

        def login():
            proc = subprocess.run(
                ["ip", "netns", "exec", upstream, "ssh", "-i", str(key),
                 "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", f"nimbus@{fip}", "hostname"],
                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
            return proc.stdout.strip() if proc.returncode == 0 else None
        assert _wait(login, 180, f"ssh to {fip} from {upstream}", interval=3) == name
        cli.run("server", "delete", "--wait", name)
        cli.run("floating", "ip", "delete", fip)
    finally:
        # Deleting the namespace destroys the veth pair wherever its other end is.
        subprocess.run(["ip", "netns", "delete", upstream], capture_output=True)
        subprocess.run(["ip", "link", "delete", host_end], capture_output=True)
