"""What a cloud left on this host, for the e2e tests that check cleanup.

Every name the dataplane gives (crates/agent/src/dataplane/names.rs) carries
the first hex digits of a resource id without dashes: namespaces the first 8,
links (bridges, taps, veths) the first 11. `traces(cloud, ids)` looks for any
of those in the namespace list, in the links and nftables rules of the cloud's
namespaces, and in the command lines of QEMU processes.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path


def cloud_tag(data_dir: Path) -> str:
    """names.rs `tag`: the first 8 hex digits of SHA-256 of the canonical data dir."""
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL).stdout


def namespaces(data_dir: Path) -> list[str]:
    """The cloud's network namespaces (every one ends with or contains its tag)."""
    tag = cloud_tag(data_dir)
    return [line.split()[0] for line in _run("ip", "netns", "list").splitlines()
            if line.startswith("nimbus-") and f"-{tag}" in line]


def _qemu_cmdlines() -> list[str]:
    lines = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in cmdline:
            lines.append(cmdline)
    return lines


def traces(data_dir: Path, ids: list[str]) -> list[str]:
    """Everything on the host that still names one of `ids`, as readable lines."""
    short8 = {i.replace("-", "")[:8] for i in ids}
    short11 = {i.replace("-", "")[:11] for i in ids}
    found = [f"netns {ns}" for ns in namespaces(data_dir) if any(s in ns for s in short8)]
    for ns in namespaces(data_dir):
        links = _run("ip", "netns", "exec", ns, "ip", "-o", "link")
        rules = _run("ip", "netns", "exec", ns, "nft", "list", "ruleset")
        for text, what in ((links, "link"), (rules, "nft")):
            found += [f"{what} in {ns}: {line.strip()}" for line in text.splitlines()
                      if any(s in line for s in short11)]
    found += [f"qemu: {line}" for line in _qemu_cmdlines() if any(i in line for i in ids)]
    return found


def wait_clean(data_dir: Path, ids: list[str], timeout: float = 90) -> list[str]:
    """`traces` once they are gone or `timeout` s have passed (the agent removes
    the dataplane after the API has answered, so it may take a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        left = traces(data_dir, ids)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(2)
