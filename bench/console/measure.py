"""Console render times (bench/console/run calls it).

- Starts `nimbus serve --no-local-agent` on a fresh data dir and fills the admin
  project with SERVERS servers on a /18 network through Nova's API (with no
  agent they stay unscheduled or fail scheduling; the pages list them all the
  same).
- Logs in to the console like a browser (login form, session cookie).
- For every page: RUNS sequential GETs, timed on the client over 127.0.0.1
  (so the figure includes the HTTP round trip, an upper bound for the
  server-side render), and the size of the HTML.
- Baseline in the same run: the API call the page is mostly made of (e.g.
  GET /compute/v2.1/servers/detail for the servers page) with the same token.

Prints a markdown section on stdout.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

PASSWORD = "bench-Admin-pw-1"
# page → the API call it is built on
PAGES = {
    "/": "/identity/v3/auth/projects",
    "/console/users": "/identity/v3/users",
    "/console/groups": "/identity/v3/groups",
    "/console/roles": "/identity/v3/roles",
    "/console/projects": "/identity/v3/projects",
    "/console/assignments": "/identity/v3/role_assignments?include_names",
    "/console/servers": "/compute/v2.1/servers/detail",
    "/console/keypairs": "/compute/v2.1/os-keypairs",
    "/console/images": "/image/v2/images",
    "/console/networks": "/network/v2.0/networks",
    "/console/routers": "/network/v2.0/routers",
    "/console/security-groups": "/network/v2.0/security-groups",
    "/console/floating-ips": "/network/v2.0/floatingips",
    "/console/volumes": "/volume/v3/volumes/detail",
    "/console/mfa": "/identity/v3/credentials",
    "/console/status": "/status-api/components",
    "/status": "/status-api/components",
}


def log(msg: str) -> None:
    print(f"[console-bench] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(session: requests.Session, url: str, runs: int) -> tuple[list[float], int]:
    samples, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        r = session.get(url, timeout=60, allow_redirects=False)
        samples.append((time.perf_counter() - start) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"GET {url}: {r.status_code}")
        size = len(r.content)
    return samples, size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, type=Path)
    ap.add_argument("--servers", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--command", default="bench/console/run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="nimbus-console-bench-") as tmp:
        data = Path(tmp) / "cloud"
        data.mkdir()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, NIMBUS_ADMIN_PASSWORD=PASSWORD, NIMBUS_LOG="warn")
        logf = open(data / "nimbus.log", "wb")
        proc = subprocess.Popen([str(args.bin), "serve", "--data-dir", str(data), "--listen",
                                 f"127.0.0.1:{port}", "--no-local-agent"], stdout=logf,
                                stderr=logf, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if requests.get(url + "/healthz", timeout=1).ok:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("nimbus did not start")
                time.sleep(0.2)
            api = requests.Session()
            body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
            r = api.post(url + "/identity/v3/auth/tokens", json=body, timeout=30)
            r.raise_for_status()
            api.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
            flavor = next(f["id"] for f in api.get(url + "/compute/v2.1/flavors").json()["flavors"]
                          if f["name"] == "nimbus.tiny")
            # A small image to boot from (the servers never run: no agent).
            image_id = api.post(url + "/image/v2/images", json={
                "name": "bench-image", "disk_format": "raw", "container_format": "bare",
                "visibility": "public"}).json()["id"]
            api.put(url + f"/image/v2/images/{image_id}/file", data=b"\0" * (1 << 20),
                    headers={"Content-Type": "application/octet-stream"}).raise_for_status()
            # Room for more servers than `private` (a /24) holds.
            net = api.post(url + "/network/v2.0/networks", json={"network": {
                "name": "bench"}}).json()["network"]["id"]
            api.post(url + "/network/v2.0/subnets", json={"subnet": {
                "network_id": net, "ip_version": 4, "cidr": "10.128.0.0/18"}}).raise_for_status()
            log(f"creating {args.servers} servers")

            def make(i: int) -> None:
                server = {"name": f"bench-{i:04d}", "flavorRef": flavor, "imageRef": image_id,
                          "networks": [{"uuid": net}]}
                r = api.post(url + "/compute/v2.1/servers", json={"server": server}, timeout=60)
                if r.status_code != 202:
                    raise RuntimeError(f"server {i}: {r.status_code} {r.text[:200]}")
            # Quotas would stop a real project at 10: lift them for the bench.
            project = api.get(url + "/identity/v3/auth/projects").json()["projects"][0]["id"]
            api.put(url + f"/compute/v2.1/os-quota-sets/{project}", json={"quota_set": {
                "instances": -1, "cores": -1, "ram": -1}}).raise_for_status()
            api.put(url + f"/network/v2.0/quotas/{project}", json={"quota": {"port": -1}})
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(make, range(args.servers)))
            listed = len(api.get(url + "/compute/v2.1/servers").json()["servers"])
            log(f"{listed} servers listed")

            browser = requests.Session()
            page = browser.get(url + "/login")
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
            r = browser.post(url + "/login", data={"csrf": csrf, "domain": "Default",
                                                   "user": "admin", "password": PASSWORD},
                             allow_redirects=False)
            if r.status_code != 303:
                raise RuntimeError(f"console login: {r.status_code}")
            rows = []
            for path, base in PAGES.items():
                timed(browser, url + path, 3)  # warm
                samples, size = timed(browser, url + path, args.runs)
                base_samples, _ = timed(api, url + base, args.runs)
                rows.append((path, samples, size, base, base_samples))
                log(f"{path}: {statistics.median(samples):.2f} ms")
            first = browser.get(url + "/console/servers")
            weight = len(first.content) + sum(
                len(browser.get(url + a).content) for a in ("/assets/console.css",
                                                            "/assets/console.js"))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"## Console: page render times with {listed} servers "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    print()
    print(f"Command: `{args.command}` · {os.cpu_count()} cores · binary `{args.bin}` · "
          f"{args.runs} sequential GETs per page over 127.0.0.1 (round trip included) · "
          "milliseconds")
    print()
    print("| Page | median ms | p90 ms | HTML KiB | API call it is built on | its median ms | page / API |")
    print("|---|---:|---:|---:|---|---:|---:|")
    worst = 0.0
    for path, samples, size, base, base_samples in rows:
        med, bmed = statistics.median(samples), statistics.median(base_samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        worst = max(worst, med)
        print(f"| `{path}` | {med:.2f} | {p90:.2f} | {size / 1024:.1f} | `{base}` | {bmed:.2f} | "
              f"{med / bmed:.2f} |")
    print()
    print("| Target | Measured | Goal | Met? |")
    print("|---|---|---|---|")
    print(f"| every page rendered with 1,000 servers | worst median {worst:.2f} ms | < 20 ms | "
          f"{'yes' if worst < 20 else '**no**'} |")
    print(f"| first page transferred (servers page + CSS + JS) | {weight / 1024:.1f} KiB | "
          f"< 300 KB | {'yes' if weight < 300_000 else '**no**'} |")


if __name__ == "__main__":
    main()
