"""The Nimbus side of the compute benchmark (bench/compute/run calls it).

Measures, against a real `nimbus serve` with its in-process agent:
- create→ACTIVE and create→SSH-ready of one server at a time (RUNS times) and of
  PARALLEL servers created at once (ROUNDS times): POST /servers, then polling
  GET /servers/{id} every 50 ms, then `nimbus ssh SERVER -- true` until it works;
- control-plane CPU per server create: user+system CPU of the nimbus process
  (API, scheduler, agent; QEMU, qemu-img and genisoimage are other processes)
  from the POST until the server is ACTIVE, divided by the servers created;
- GET /servers/detail and GET /servers with LIST servers in the project, on a
  second cloud started with --no-local-agent (the servers stay unscheduled, so
  1,000 of them cost no guests), median of 20 requests.

Prints one JSON object per measurement on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ADMIN_PASSWORD = "bench-Admin-pw-1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def emit(**record) -> None:
    print(json.dumps(record), flush=True)


def log(msg: str) -> None:
    print(f"[compute-bench] {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


class Cloud:
    def __init__(self, binary: Path, root: Path, name: str, *extra: str, log: str = "warn"):
        self.binary = binary
        self.data_dir = root / name
        self.data_dir.mkdir(parents=True)
        sock = __import__("socket").socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, NIMBUS_ADMIN_PASSWORD=ADMIN_PASSWORD, NIMBUS_LOG=log)
        self.args = [str(binary), "serve", "--data-dir", str(self.data_dir), "--listen",
                     f"127.0.0.1:{self.port}", *extra]
        self.log = open(self.data_dir / "nimbus.log", "ab")
        self.launch()
        self.login()

    def login(self) -> None:
        self.session = requests.Session()
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        resp = self.session.post(self.url + "/identity/v3/auth/tokens", json=body, timeout=30)
        resp.raise_for_status()
        self.project_id = resp.json()["token"]["project"]["id"]
        self.session.headers.update({"X-Auth-Token": resp.headers["X-Subject-Token"],
                                     "OpenStack-API-Version": "compute 2.79"})

    def launch(self) -> None:
        """Starts `nimbus serve` (again, after a stop) and waits for /healthz."""
        self.proc = subprocess.Popen(
            self.args, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
            env=self.env, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError(f"{self.data_dir.name}: nimbus did not start")

    def api(self, method: str, path: str, expect=(200, 201, 202, 204), **kw):
        resp = self.session.request(method, self.url + path, timeout=60, **kw)
        if resp.status_code not in expect:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp

    def halt(self) -> None:
        """Stops `nimbus serve` only: guests and dnsmasq keep running."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def stop(self) -> None:
        self.halt()
        subprocess.run([str(self.binary), "teardown", "--data-dir", str(self.data_dir)],
                       capture_output=True, timeout=120)


def boot_setup(cloud: Cloud, key: Path) -> dict:
    image = cloud.api("GET", "/image/v2/images?name=nimbus-guest").json()["images"][0]["id"]
    network = cloud.api("GET", "/network/v2.0/networks?name=private").json()["networks"][0]["id"]
    cloud.api("POST", "/compute/v2.1/os-keypairs", json={"keypair": {
        "name": "bench", "public_key": Path(str(key) + ".pub").read_text()}})
    return {"imageRef": image, "flavorRef": "nimbus.tiny", "key_name": "bench",
            "networks": [{"uuid": network}]}


def boot_one(cloud: Cloud, template: dict, name: str, key: Path, result: dict) -> None:
    start = time.monotonic()
    server = cloud.api("POST", "/compute/v2.1/servers",
                       json={"server": dict(template, name=name)}).json()["server"]
    result["id"] = server["id"]
    while True:
        s = cloud.api("GET", f"/compute/v2.1/servers/{server['id']}").json()["server"]
        if s["status"] == "ACTIVE":
            result["active_s"] = time.monotonic() - start
            break
        if s["status"] == "ERROR" or time.monotonic() - start > 600:
            raise RuntimeError(f"{name}: {s['status']} {s.get('fault')}")
        time.sleep(0.05)
    while time.monotonic() - start < 600:
        proc = subprocess.run([str(cloud.binary), "ssh", "--data-dir", str(cloud.data_dir),
                               server["id"], "-i", str(key), "--", "true"],
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        if proc.returncode == 0:
            result["ssh_s"] = time.monotonic() - start
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name}: no ssh within 600 s")


def delete_all(cloud: Cloud, ids: list[str]) -> None:
    for sid in ids:
        cloud.api("DELETE", f"/compute/v2.1/servers/{sid}", expect=(204, 404))
    for sid in ids:
        while cloud.session.get(f"{cloud.url}/compute/v2.1/servers/{sid}",
                                timeout=30).status_code != 404:
            time.sleep(0.2)


def boots(cloud: Cloud, template: dict, key: Path, count: int, case: str) -> list[dict]:
    results = [{} for _ in range(count)]
    cpu_before = cpu_seconds(cloud.proc.pid)
    threads = [threading.Thread(target=boot_one, args=(cloud, template, f"{case}-{i}", key, r))
               for i, r in enumerate(results)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if any("ssh_s" not in r for r in results):
        raise RuntimeError(f"{case}: a boot failed (see the log above)")
    cpu = cpu_seconds(cloud.proc.pid) - cpu_before
    for r in results:
        emit(case=case, active_s=round(r["active_s"], 3), ssh_s=round(r["ssh_s"], 3),
             cpu_per_server_ms=round(cpu * 1000 / count, 1))
    delete_all(cloud, [r["id"] for r in results])
    return results


def list_latency(binary: Path, root: Path, guest_dir: Path, servers: int) -> None:
    cloud = Cloud(binary, root, "list", "--no-local-agent", "--guest-image-dir", str(guest_dir))
    try:
        cloud.api("PUT", f"/compute/v2.1/os-quota-sets/{cloud.project_id}", json={"quota_set": {
            "instances": servers + 10, "cores": servers + 10, "ram": (servers + 10) * 256}})
        # one port each: a /20 and a port quota that hold them all
        cloud.api("PUT", f"/network/v2.0/quotas/{cloud.project_id}",
                  json={"quota": {"port": servers + 100}})
        network = cloud.api("POST", "/network/v2.0/networks",
                            json={"network": {"name": "bench"}}).json()["network"]["id"]
        cloud.api("POST", "/network/v2.0/subnets", json={"subnet": {
            "network_id": network, "cidr": "10.20.0.0/20", "ip_version": 4}})
        image = cloud.api("GET", "/image/v2/images?name=nimbus-guest").json()["images"][0]["id"]
        cpu_before = cpu_seconds(cloud.proc.pid)
        created = 0
        while created < servers:
            n = min(100, servers - created)
            cloud.api("POST", "/compute/v2.1/servers", json={"server": {
                "name": "list", "imageRef": image, "flavorRef": "nimbus.tiny", "min_count": n,
                "max_count": n, "networks": [{"uuid": network}]}})
            created += n
        emit(case="create-api-only", servers=servers,
             cpu_per_server_ms=round((cpu_seconds(cloud.proc.pid) - cpu_before) * 1000 / servers, 2))
        for path in ("/compute/v2.1/servers/detail", "/compute/v2.1/servers"):
            got = len(cloud.api("GET", path).json()["servers"])
            times = []
            for _ in range(20):
                t = time.monotonic()
                cloud.api("GET", path)
                times.append(time.monotonic() - t)
            emit(case=f"list {path.rsplit('/', 1)[-1]}", servers=got,
                 median_ms=round(statistics.median(times) * 1000, 1),
                 max_ms=round(max(times) * 1000, 1))
    finally:
        cloud.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bin", type=Path, required=True)
    p.add_argument("--guest-dir", type=Path, required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--parallel", type=int, default=4)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--list-servers", type=int, default=1000)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="nimbus-bench-compute-") as tmp:
        root = Path(tmp)
        key = root / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        cloud = Cloud(a.bin, root, "boot", "--guest-image-dir", str(a.guest_dir))
        try:
            template = boot_setup(cloud, key)
            for i in range(a.runs):
                log(f"single boot {i + 1}/{a.runs}")
                boots(cloud, template, key, 1, "nimbus-1")
            for i in range(a.rounds):
                log(f"{a.parallel} parallel boots, round {i + 1}/{a.rounds}")
                boots(cloud, template, key, a.parallel, f"nimbus-{a.parallel}")
        finally:
            cloud.stop()
        if a.list_servers:
            log(f"list latency with {a.list_servers} servers")
            list_latency(a.bin, root, a.guest_dir, a.list_servers)


if __name__ == "__main__":
    main()
