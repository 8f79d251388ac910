"""Tenant isolation with overlapping address ranges, on real guests.

Two projects, each with a member user, a network with the same range
10.0.0.0/24 and a router to `public`. A boots one server, B two (the second at
10.0.0.200, an address A's network does not use). Checked:
- each project sees only its own networks and servers in the API;
- each guest reaches its own router at 10.0.0.1, and answers to the MAC of
  its own project's router port, not the other one's;
- B's first guest reaches 10.0.0.200, A's guest does not (neither ping nor
  tcp/22, though B's group admits both from anywhere);
- a floating IP per project reaches the right guest from the outside-world
  namespace `nimbus-ext-<tag>`, while the fixed addresses answer neither ICMP
  nor tcp/22 there (netprobe.py: the host has no ping).
Two subnets of one project joined by a router are covered by
test_routers_fip_vm.py. Guests are reached with `nimbus ssh` (from their
network's DHCP namespace) and, from outside, through their floating IPs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from host_state import wait_clean
from netprobe import in_netns
from nimbus_e2e import NimbusServer, OpenStack, unique
from test_routers_fip_vm import _ext_netns, _ssh_fip, _ssh_group
from test_servers_vm import BOOT_TIMEOUT, _keypair, _ssh_ok, _wait

pytestmark = pytest.mark.skipif(
    os.environ.get("NIMBUS_E2E_VM") == "0", reason="NIMBUS_E2E_VM=0: VM tests disabled"
)

CIDR = "10.0.0.0/24"
GATEWAY = "10.0.0.1"
B_SECOND = "10.0.0.200"  # inside the range, not in A's network


class Tenant:
    """A project with a member user, driving the CLI as that user."""

    def __init__(self, cloud: NimbusServer, label: str, tmp_path: Path):
        ks = cloud.keystone()
        self.label = label
        self.project = ks.create_project(unique(f"iso{label}"))
        password = "Iso-" + unique("pw")
        self.user = ks.create_user(unique(f"iso{label}user"), password)
        ks.grant("member", user_id=self.user["id"], project_id=self.project["id"])
        self.cli: OpenStack = cloud.user_cli(self.user["name"], password,
                                             project=self.project["name"])
        self.net, self.router = unique(f"iso{label}net"), unique(f"iso{label}rtr")
        self.subnet = self.net + "-sub"
        self.servers: list[str] = []  # ids
        self.fips: list[str] = []  # ids
        self.ids: list[str] = []  # everything made, for the host check
        self.key_name, self.key = _keypair(self.cli, tmp_path / label)
        self.group = _ssh_group(self.cli)

    def build_network(self) -> None:
        cli = self.cli
        self.ids.append(cli.json("network", "create", self.net)["id"])
        self.ids.append(cli.json("subnet", "create", "--network", self.net, "--subnet-range",
                                 CIDR, self.subnet)["id"])
        self.ids.append(cli.json("router", "create", self.router)["id"])
        cli.run("router", "set", "--external-gateway", "public", self.router)
        cli.run("router", "add", "subnet", self.router, self.subnet)
        self.ids += [p["ID"] for p in cli.json("port", "list", "--router", self.router)]

    def router_mac(self) -> str:
        """The MAC of this project's router port holding 10.0.0.1."""
        ports = self.cli.json("port", "list", "--router", self.router, "--long")
        macs = [p["MAC Address"] for p in ports if f"'{GATEWAY}'" in str(p["Fixed IP Addresses"])]
        assert len(macs) == 1, ports
        return macs[0].lower()

    def boot(self, name: str, fixed_ip: str | None = None) -> str:
        nic = f"net-id={self.cli.json('network', 'show', self.net)['id']}"
        if fixed_ip:
            nic += f",v4-fixed-ip={fixed_ip}"
        server = self.cli.json("server", "create", "--flavor", "nimbus.tiny", "--image",
                               "nimbus-guest", "--nic", nic, "--key-name", self.key_name,
                               "--security-group", self.group, name)
        self.servers.append(server["id"])
        self.ids.append(server["id"])
        return server["id"]

    def fixed_ip(self, server_id: str) -> str:
        addresses = self.cli.json("server", "show", server_id)["addresses"][self.net]
        fixed = [a for a in addresses if a.startswith("10.0.0.")]
        assert len(fixed) == 1, addresses
        return fixed[0]

    def add_fip(self, server_id: str) -> str:
        fip = self.cli.json("floating", "ip", "create", "public")
        self.fips.append(fip["id"])
        self.ids.append(fip["id"])
        self.cli.run("server", "add", "floating", "ip", server_id, fip["floating_ip_address"])
        return fip["floating_ip_address"]

    def clean(self, cloud: NimbusServer) -> None:
        cli = self.cli
        if self.servers:
            cli.run("server", "delete", "--wait", *self.servers, check=False)
        for fip in self.fips:
            cli.run("floating", "ip", "delete", fip, check=False)
        cli.run("router", "remove", "subnet", self.router, self.subnet, check=False)
        cli.run("router", "delete", self.router, check=False)
        cli.run("network", "delete", self.net, check=False)
        cli.run("security", "group", "delete", self.group, check=False)
        cli.run("keypair", "delete", self.key_name, check=False)
        admin = cloud.admin_cli()
        admin.run("user", "delete", self.user["id"], check=False)
        admin.run("project", "delete", self.project["id"], check=False)


def _in_guest(cloud: NimbusServer, tenant: Tenant, server: str, script: str) -> str:
    """Runs a shell script in a guest; its output (the script's status is not checked,
    so it should print what it found). ssh joins its arguments into one command
    line for the remote shell, so the script goes as one argument, not `sh -c`.
    The closing marker tells a script that printed nothing from a failed login."""
    out = _ssh_ok(cloud, server, tenant.key, f"{script}; echo {_DONE}", timeout=BOOT_TIMEOUT)
    return out.replace(_DONE + "\n", "")


_DONE = "in-guest-script-done"


def _ping(cloud, tenant, server, address) -> bool:
    out = _in_guest(cloud, tenant, server, f"ping -c 2 -W 2 {address} >/dev/null; echo rc=$?")
    return "rc=0" in out


def _arp_mac(cloud, tenant, server, address) -> str | None:
    """The MAC the guest learnt for `address` (None: none, or incomplete)."""
    table = _in_guest(cloud, tenant, server, "cat /proc/net/arp")
    for line in table.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == address and fields[3] != "00:00:00:00:00:00":
            return fields[3].lower()
    return None


def _outside(cloud: NimbusServer, *probe: str) -> bool:
    """Whether a netprobe.py probe succeeds in the cloud's outside-world namespace."""
    return in_netns(_ext_netns(cloud), *probe).returncode == 0


def test_overlapping_cidrs_are_isolated(vm_cloud: NimbusServer, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = b = None
    try:
        a = Tenant(vm_cloud, "a", tmp_path)
        b = Tenant(vm_cloud, "b", tmp_path)
        a.build_network()
        b.build_network()
        a1 = a.boot(unique("isoa1"))
        b1 = b.boot(unique("isob1"))
        b2 = b.boot(unique("isob2"), fixed_ip=B_SECOND)

        # The API: each project sees its own network (and the shared `public`), not the other's.
        a_nets = {n["Name"] for n in a.cli.json("network", "list")}
        assert a.net in a_nets and "public" in a_nets and b.net not in a_nets, a_nets
        b_nets = {n["Name"] for n in b.cli.json("network", "list")}
        assert b.net in b_nets and a.net not in b_nets, b_nets
        assert {s["ID"] for s in a.cli.json("server", "list")} == {a1}
        assert {s["ID"] for s in b.cli.json("server", "list")} == {b1, b2}
        a.cli.fails("server", "show", b1)
        a.cli.fails("subnet", "show", b.subnet)

        for tenant, server in ((a, a1), (b, b1), (b, b2)):
            _wait(lambda t=tenant, s=server: t.cli.json("server", "show", s)["status"] == "ACTIVE"
                  or None, BOOT_TIMEOUT, f"{server} ACTIVE", interval=3)
        a1_ip, b1_ip = a.fixed_ip(a1), b.fixed_ip(b1)
        assert b.fixed_ip(b2) == B_SECOND
        assert a1_ip != B_SECOND and b1_ip != B_SECOND

        # Each guest reaches its own router, and no other one.
        for tenant, server in ((a, a1), (b, b1)):
            assert _ping(vm_cloud, tenant, server, GATEWAY), f"{server} to its router"
            assert _arp_mac(vm_cloud, tenant, server, GATEWAY) == tenant.router_mac()
        assert a.router_mac() != b.router_mac()

        # B's second guest answers B's first, but A's guest cannot reach it.
        assert _ping(vm_cloud, b, b1, B_SECOND), "B1 to B2 (the positive control)"
        assert not _ping(vm_cloud, a, a1, B_SECOND), "A1 reached B's guest at 10.0.0.200"
        banner = f"nc -w 3 {B_SECOND} 22 </dev/null | head -n 1"
        assert "SSH-" in _in_guest(vm_cloud, b, b1, banner), "B1 to B2's sshd (the control)"
        assert "SSH-" not in _in_guest(vm_cloud, a, a1, banner), "A1 reached B2's sshd"
        assert _arp_mac(vm_cloud, a, a1, B_SECOND) is None

        # From outside: floating IPs reach the right guest; fixed addresses nothing.
        fip_a, fip_b = a.add_fip(a1), b.add_fip(b1)
        assert fip_a != fip_b
        assert _ssh_fip(vm_cloud, a.key, fip_a, "cat", "/proc/sys/kernel/hostname",
                        timeout=BOOT_TIMEOUT).strip() == \
            a.cli.json("server", "show", a1)["name"]
        assert _ssh_fip(vm_cloud, b.key, fip_b, "cat", "/proc/sys/kernel/hostname",
                        timeout=BOOT_TIMEOUT).strip() == \
            b.cli.json("server", "show", b1)["name"]
        assert _outside(vm_cloud, "icmp", fip_a), "ICMP through A's floating IP"
        assert _outside(vm_cloud, "tcp", fip_b, "22"), "tcp/22 through B's floating IP"
        for fixed in sorted({a1_ip, b1_ip, B_SECOND}):
            assert not _outside(vm_cloud, "icmp", fixed), f"{fixed} answered ICMP from outside"
            assert not _outside(vm_cloud, "tcp", fixed, "22"), f"{fixed}:22 open from outside"
    finally:
        for tenant in (a, b):
            if tenant:
                tenant.clean(vm_cloud)
    ids = (a.ids if a else []) + (b.ids if b else [])
    assert wait_clean(vm_cloud.data_dir, ids) == []
