"""A volume driven by Ansible's `openstack.cloud.volume` module (collection
2.5.0, bundled with the pinned `ansible` package), no guest needed:
ansible/volume.yml creates a 1 GiB volume (changed), a second identical run
changes nothing (PLAY RECAP changed=0), a run with size 2 extends it, and
`state=absent` deletes it (then changes nothing again). The cloud's own
volume API is checked with the `openstack` CLI after each step.

The modules run under `-c local` with this venv's Python and
ansible/sitecustomize.py on PYTHONPATH (see that file and test_ansible_vm.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nimbus_e2e import NimbusServer, unique

HERE = Path(__file__).resolve().parent
PLAYBOOK = HERE / "ansible" / "volume.yml"
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                   re.MULTILINE)
WAIT = 60


def _ansible_playbook() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    if not beside.exists():
        pytest.fail(f"{beside} is missing: tests/e2e/requirements.txt pins ansible "
                    "(scripts/test installs it into .venv)")
    return str(beside)


def _play(cloud: NimbusServer, tmp_path: Path, variables: dict) -> tuple[int, str]:
    """Runs the playbook; returns the recap's `changed` count and the output."""
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"cloud": "nimbus", **variables}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ANSIBLE_"))}
    env.update(
        OS_CLIENT_CONFIG_FILE=str(cloud.clouds_yaml),
        PYTHONPATH=str(HERE / "ansible"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        PYTHONWARNINGS="ignore",
    )
    cmd = [_ansible_playbook(), "-i", "localhost,", "-c", "local",
           "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"@{extra}", str(PLAYBOOK)]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"ansible-playbook exited {proc.returncode}:\n{output[-6000:]}"
    match = RECAP.search(proc.stdout)
    assert match, f"no PLAY RECAP for localhost:\n{output[-3000:]}"
    _ok, changed, unreachable, failed = map(int, match.groups())
    assert unreachable == 0 and failed == 0, output[-3000:]
    return changed, output


def _volumes(cli, name: str) -> list[dict]:
    return [v for v in cli.json("volume", "list", "--long") if v["Name"] == name]


def _wait_available(cli, name: str, size: int) -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        shown = cli.json("volume", "show", name)
        if shown["status"] == "available" and shown["size"] == size:
            return shown
        assert not shown["status"].startswith("error"), shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.3)


def test_volume_module_create_idempotent_extend_absent(nimbus, tmp_path):
    admin = nimbus.admin_cli()
    name = unique("ansvol")
    present = {"volume_name": name, "volume_size": 1, "volume_description": "made by ansible",
               "volume_metadata": {"tier": "gold"}}
    try:
        changed, output = _play(nimbus, tmp_path, present)
        assert changed == 1, output[-3000:]
        [listed] = _volumes(admin, name)
        assert listed["Status"] == "available" and listed["Size"] == 1, listed
        shown = admin.json("volume", "show", name)
        assert shown["description"] == "made by ansible"
        assert "gold" in json.dumps(shown["properties"]), shown

        changed, output = _play(nimbus, tmp_path, present)
        assert changed == 0, f"a second run must change nothing:\n{output[-3000:]}"
        assert len(_volumes(admin, name)) == 1

        changed, output = _play(nimbus, tmp_path, {**present, "volume_size": 2})
        assert changed == 1, output[-3000:]
        _wait_available(admin, name, 2)

        changed, output = _play(nimbus, tmp_path, {"volume_name": name, "state": "absent"})
        assert changed == 1, output[-3000:]
        assert _volumes(admin, name) == []
        changed, output = _play(nimbus, tmp_path, {"volume_name": name, "state": "absent"})
        assert changed == 0, output[-3000:]
    finally:
        for v in _volumes(admin, name):
            admin.run("volume", "delete", v["ID"], check=False)
