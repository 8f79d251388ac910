"""Workflow 9.1 driven by Ansible's openstack.cloud collection (2.5.0, bundled
with the `ansible` package) against a real cloud with guests.

ansible/workflow-9-1.yml builds a network, a subnet, a router to `public` with
an interface on the subnet, a security group with tcp/22 and icmp rules, a
keypair and a server with a floating IP (auto_ip). The test checks that the
first run changes things and the server answers ssh through its floating IP
from the cloud's outside-world namespace, that a second run changes nothing
(PLAY RECAP), and that a run with `state=absent` removes every resource from
the API and every trace of them from the host.

The modules run under `-c local` with this venv's Python, with
ansible/sitecustomize.py on PYTHONPATH (openstack.cloud 2.5.0 with
openstacksdk 4.x needs it; see that file). No galaxy download happens: the
collection comes with the `ansible` package.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from host_state import traces, wait_clean
from nimbus_e2e import NimbusServer, unique
from test_routers_fip_vm import _ssh_fip

pytestmark = pytest.mark.skipif(
    os.environ.get("NIMBUS_E2E_VM") == "0", reason="NIMBUS_E2E_VM=0: VM tests disabled"
)

HERE = Path(__file__).resolve().parent
PLAYBOOK = HERE / "ansible" / "workflow-9-1.yml"
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                   re.MULTILINE)
# What the CLI prints for an id the API answers 404 for ("No Server found for ...").
NOT_FOUND = re.compile(r"^No \w+ found for ", re.MULTILINE)


def _ansible_playbook() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    if not beside.exists():
        pytest.fail(f"{beside} is missing: tests/e2e/requirements.txt pins ansible "
                    "(scripts/test installs it into .venv)")
    return str(beside)


def _play(cloud: NimbusServer, tmp_path: Path, variables: dict) -> dict:
    """Runs the playbook; returns the recap counts (and the output, for messages)."""
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"cloud": "nimbus", **variables}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ANSIBLE_"))}
    env.update(
        OS_CLIENT_CONFIG_FILE=str(cloud.clouds_yaml),
        PYTHONPATH=str(HERE / "ansible"),  # the sitecustomize shim, for this run only
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),  # nothing under ~/.ansible
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        PYTHONWARNINGS="ignore",
    )
    cmd = [_ansible_playbook(), "-i", "localhost,", "-c", "local",
           "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"@{extra}", str(PLAYBOOK)]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    (tmp_path / f"ansible-{variables.get('state', 'present')}.log").write_text(output)
    assert proc.returncode == 0, f"ansible-playbook exited {proc.returncode}:\n{output[-6000:]}"
    match = RECAP.search(proc.stdout)
    assert match, f"no PLAY RECAP for localhost:\n{output[-3000:]}"
    ok, changed, unreachable, failed = map(int, match.groups())
    return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed,
            "output": output}


def _ids(cli, prefix: str) -> dict[str, str]:
    """The ids of everything the playbook made, looked up through the API."""
    server = cli.json("server", "show", f"{prefix}-vm")
    ports = cli.json("port", "list", "--device-id", server["id"])
    assert len(ports) == 1, ports
    fips = cli.json("floating", "ip", "list", "--port", ports[0]["ID"])
    assert len(fips) == 1, fips
    router = cli.json("router", "show", f"{prefix}-router")
    router_ports = cli.json("port", "list", "--router", router["id"])
    ids = {
        "server": server["id"],
        "port": ports[0]["ID"],
        "floating_ip": fips[0]["ID"],
        "router": router["id"],
        "network": cli.json("network", "show", f"{prefix}-net")["id"],
        "subnet": cli.json("subnet", "show", f"{prefix}-subnet")["id"],
        "security_group": cli.json("security", "group", "show", f"{prefix}-sg")["id"],
    }
    ids.update({f"router_port{i}": p["ID"] for i, p in enumerate(router_ports)})
    return ids


def _gone(cli, prefix: str, ids: dict[str, str]) -> list[str]:
    """Which of the playbook's resources the API still shows."""
    checks = [
        ("server", ids["server"]),
        ("floating ip", ids["floating_ip"]),
        ("router", ids["router"]),
        ("subnet", ids["subnet"]),
        ("network", ids["network"]),
        ("security group", ids["security_group"]),
        ("port", ids["port"]),
        ("keypair", f"{prefix}-key"),
    ]
    left = []
    for kind, ref in checks:
        proc = cli.run(*kind.split(), "show", ref, check=False)
        if proc.returncode == 0:
            left.append(f"{kind} {ref}")
        elif not NOT_FOUND.search(proc.stderr):
            left.append(f"{kind} {ref}: unexpected error {proc.stderr.strip()}")
    return left


def test_ansible_workflow_9_1(vm_cloud: NimbusServer, tmp_path):
    cli = vm_cloud.admin_cli()
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ansible-e2e",
                    "-f", str(key)], check=True, timeout=60, stdin=subprocess.DEVNULL)
    prefix = unique("ans")
    variables = {"prefix": prefix, "public_key": (tmp_path / "id_ed25519.pub").read_text().strip(),
                 "cidr": "10.81.0.0/24"}
    ids: dict[str, str] = {}
    removed = False
    try:
        first = _play(vm_cloud, tmp_path, variables)
        assert first["failed"] == 0 and first["changed"] == 8, first["output"][-3000:]
        ids = _ids(cli, prefix)

        server = cli.json("server", "show", ids["server"])
        assert server["status"] == "ACTIVE", server
        fip = cli.json("floating", "ip", "show", ids["floating_ip"])["floating_ip_address"]
        assert fip.startswith("203.0.113.") and fip in server["addresses"][f"{prefix}-net"], \
            server["addresses"]
        assert _ssh_fip(vm_cloud, key, fip, "hostname", timeout=420).strip() == f"{prefix}-vm"

        second = _play(vm_cloud, tmp_path, variables)
        assert second["failed"] == 0 and second["changed"] == 0, \
            f"the second run changed things:\n{second['output'][-6000:]}"
        assert _ids(cli, prefix) == ids, "the second run replaced resources"

        # The probe sees what it looks for: the guest, its tap, the router's namespace...
        present = "\n".join(traces(vm_cloud.data_dir, list(ids.values())))
        for what in ("qemu:", "netns nimbus-r-", "link in nimbus-dp-"):
            assert what in present, present

        third = _play(vm_cloud, tmp_path, {**variables, "state": "absent"})
        removed = True
        assert third["failed"] == 0 and third["changed"] == 6, third["output"][-3000:]
        assert _gone(cli, prefix, ids) == []
        assert wait_clean(vm_cloud.data_dir, list(ids.values())) == []
    finally:
        if not removed:
            # Whatever the failure, the playbook's own absent run cleans up.
            try:
                _play(vm_cloud, tmp_path, {**variables, "state": "absent"})
            except AssertionError:
                pass
