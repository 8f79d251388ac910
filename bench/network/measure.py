"""The cloud side of the network benchmark (bench/network/run calls it).

Against a real `nimbus serve` with its in-process agent (one cloud, data dir
under a temporary directory, torn down at the end), prints one JSON object per
sample on stdout:

- `restart-empty` (baseline of `restart`): stop `nimbus serve`, start it again
  with no servers; time from the start until the agent's "first agent pass done"
  log line.
- `sg`: security-group rule create → effect. A server with a floating IP, in a
  group that admits tcp/22 and icmp, runs busybox httpd on PORT; tcp_probe.py in
  the cloud's outside-world namespace `nimbus-ext-<tag>` connects to FIP:PORT
  every 2 ms. Per sample: the rule admitting PORT is deleted and the probe waits
  until connects go unanswered; then the probe starts, POST
  /v2.0/security-group-rules is sent, and the first connect that succeeds marks the
  effect. Baseline: the POST's own round trip (`post_ms`).
- `sg-scale`: the same with SG_SCALE_PORTS (1,000) more ports bound to this host
  (binding:host_id, default group, a network of their own without DHCP), so the
  ruleset the agent renders and loads on each change holds 1,001 ports.
- `dhcp`: port create → DHCP lease. POST /v2.0/ports on `private` (whose DHCP
  runs, as the server above is there) with device_owner `compute:bench`, then
  dhcp_client.py on a veth with the port's MAC, joined to the network's bridge from
  a namespace `nimbus-bench-dhcp-<pid>`, until the ACK of the port's address.
  Baseline `dhcp-known`: the same client again, its MAC already known.
- `restart`: SERVERS servers with PORTS_PER ports each (5 x 20 by default: the
  host here has room for 8 nimbus.tiny servers, 2 vCPUs x allocation ratio 4) (ACTIVE, guests settled),
  stop `nimbus serve`, start it again; time until the agent has reconciled (the
  latest of: first agent pass done, every server's first reconcile, the first
  security-group ruleset load, all logged by the agent), then checked from outside:
  every tap there, the ruleset exactly as before the restart (no duplicates), the
  same dnsmasq, all servers ACTIVE.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("compute_measure", HERE.parent / "compute" / "measure.py")
compute = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compute)
Cloud = compute.Cloud

LOG = "info,sqlx=warn,nimbus_agent=debug"
HTTP_PORT = 8080


def emit(**record) -> None:
    print(json.dumps(record), flush=True)


def log(msg: str) -> None:
    print(f"[network-bench] {msg}", file=sys.stderr, flush=True)


def sh(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def wait(what: str, fn, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def tag(cloud: Cloud) -> str:
    return hashlib.sha256(str(cloud.data_dir.resolve()).encode()).hexdigest()[:8]


# ---- restart -------------------------------------------------------------

def log_events(path: Path, offset: int) -> list[tuple[float, dict]]:
    """(epoch seconds, fields) of the JSON log lines written after byte `offset`
    (`nimbus serve` logs JSON when its output is not a terminal)."""
    out = []
    with open(path, "rb") as f:
        f.seek(offset)
        for raw in f:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            ts = datetime.datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00"))
            out.append((ts.timestamp(), rec.get("fields", {})))
    return out


def ruleset_blocks(text: str) -> list[str]:
    """`nft list ruleset` as a sorted list of its chain and set blocks (each with its
    table): the listing follows creation order, which loading only differences
    changes, while a duplicate rule or chain still shows."""
    blocks, table, cur = [], "", None
    for line in text.splitlines():
        if line.startswith("table "):
            table = line
        elif line.startswith("\tchain ") or line.startswith("\tset "):
            cur = [table, line]
        elif line == "\t}" and cur is not None:
            blocks.append("\n".join(cur))
            cur = None
        elif cur is not None:
            cur.append(line)
    return sorted(blocks)


def dataplane_state(cloud: Cloud) -> dict:
    ns = f"nimbus-dp-{tag(cloud)}"
    links = sh("ip", "-n", ns, "-o", "link", "show", check=False).stdout
    ruleset = ruleset_blocks(
        sh("ip", "netns", "exec", ns, "nft", "list", "ruleset", check=False).stdout)
    pids = sorted(p.read_text().strip() for p in (cloud.data_dir / "dhcp").glob("*/dnsmasq.pid"))
    return {"taps": len(re.findall(r": ntap", links)), "ruleset": ruleset, "dnsmasq": pids}


def restart(cloud: Cloud, servers: int) -> dict:
    """Stops and starts `nimbus serve`; seconds from the start to each log event."""
    cloud.halt()
    offset = (cloud.data_dir / "nimbus.log").stat().st_size
    t0 = time.time()
    cloud.launch()
    healthy = time.time() - t0

    def reconciled():
        ev = log_events(cloud.data_dir / "nimbus.log", offset)
        first_pass = [(t, f) for t, f in ev if f.get("message") == "first agent pass done"]
        workers = {f["server"]: t for t, f in ev
                   if f.get("message") == "first reconcile of the server done"}
        sg = [t for t, f in ev if f.get("message") == "security group ruleset applied"]
        if not first_pass or len(workers) < servers or (servers and not sg):
            return None
        times = {"first_pass_s": first_pass[0][0] - t0,
                 "workers_s": max(workers.values(), default=t0) - t0,
                 "sg_s": (sg[0] - t0) if sg else None}
        times["reconciled_s"] = max(v for v in times.values() if v is not None)
        times["pass_ms"] = first_pass[0][1].get("elapsed_ms")
        return times

    times = wait("the agent's reconciliation log lines", reconciled, 120, 0.2)
    cloud.login()
    return dict(times, healthy_s=healthy)


def restart_empty(cloud: Cloud, runs: int) -> None:
    for i in range(runs):
        t = restart(cloud, 0)
        emit(case="restart-empty", **{k: round(v, 4) for k, v in t.items() if v is not None})


def restart_loaded(cloud: Cloud, template: dict, servers: int, ports_per: int, runs: int) -> None:
    cloud.api("PUT", f"/compute/v2.1/os-quota-sets/{cloud.project_id}", json={"quota_set": {
        "instances": servers + 5, "cores": servers + 5, "ram": (servers + 5) * 256}})
    cloud.api("PUT", f"/network/v2.0/quotas/{cloud.project_id}",
              json={"quota": {"port": servers * ports_per + 50}})
    ids = []
    try:
        for i in range(servers):
            body = dict(template, name=f"restart-{i}",
                        networks=[{"uuid": template["networks"][0]["uuid"]}] * ports_per)
            ids.append(cloud.api("POST", "/compute/v2.1/servers",
                                 json={"server": body}).json()["server"]["id"])
        since = time.monotonic()
        for sid in ids:
            wait(f"{sid} ACTIVE", lambda s=sid: active(cloud, s, since), 600, 1)
        settle(cloud, 300)
        before = dataplane_state(cloud)
        expected = servers * ports_per
        if before["taps"] != expected:
            raise RuntimeError(f"{before['taps']} taps before the restart, not {expected}")
        for i in range(runs):
            log(f"restart with {servers} servers x {ports_per} ports, {i + 1}/{runs}")
            t = restart(cloud, servers)
            after = dataplane_state(cloud)
            statuses = {cloud.api("GET", f"/compute/v2.1/servers/{s}").json()["server"]["status"]
                        for s in ids}
            ok = (after["taps"] == expected and after["ruleset"] == before["ruleset"]
                  and after["dnsmasq"] == before["dnsmasq"] and statuses == {"ACTIVE"})
            if not ok:
                log(f"after restart: taps {after['taps']}, same ruleset "
                    f"{after['ruleset'] == before['ruleset']}, dnsmasq {after['dnsmasq']} vs "
                    f"{before['dnsmasq']}, statuses {statuses}")
            emit(case="restart", servers=servers, ports=expected, verified=ok,
                 ruleset_lines=sum(b.count("\n") + 1 for b in after["ruleset"]),
                 **{k: round(v, 4) for k, v in t.items() if v is not None})
    finally:
        compute.delete_all(cloud, ids)


def active(cloud: Cloud, sid: str, since: float) -> bool:
    s = cloud.api("GET", f"/compute/v2.1/servers/{sid}").json()["server"]
    if s["status"] == "ERROR":
        raise RuntimeError(f"server {sid}: ERROR {s.get('fault')}")
    if s["status"] == "BUILD" and not s.get("OS-EXT-SRV-ATTR:host") \
            and time.monotonic() - since > 60:
        # The scheduler found no room (the host's vCPUs x allocation ratio).
        raise RuntimeError(f"server {sid}: no host has room for it; use fewer SERVERS")
    return s["status"] == "ACTIVE"


def settle(cloud: Cloud, timeout: float) -> None:
    """Waits until the guests have booted: their QEMUs together below half a core."""
    pids = [int(p.read_text()) for p in (cloud.data_dir / "instances").glob("*/qemu.pid")]
    if not pids:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(compute.cpu_seconds(p) for p in pids)
        time.sleep(3)
        busy = (sum(compute.cpu_seconds(p) for p in pids) - before) / 3
        log(f"guests use {busy:.2f} cores")
        if busy < 0.5:
            return


# ---- security groups -------------------------------------------------------

def sg_setup(cloud: Cloud, template: dict, key: Path) -> dict:
    group = cloud.api("POST", "/network/v2.0/security-groups", json={"security_group": {
        "name": "bench-web"}}).json()["security_group"]["id"]
    for rule in ({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
                 {"protocol": "icmp"}):
        cloud.api("POST", "/network/v2.0/security-group-rules", json={"security_group_rule": dict(
            rule, direction="ingress", ethertype="IPv4", security_group_id=group)})
    server = cloud.api("POST", "/compute/v2.1/servers", json={"server": dict(
        template, name="sg-target", security_groups=[{"name": "bench-web"}])}).json()["server"]
    since = time.monotonic()
    wait("sg-target ACTIVE", lambda: active(cloud, server["id"], since), 600, 1)
    port = cloud.api("GET", f"/network/v2.0/ports?device_id={server['id']}").json()["ports"][0]
    public = cloud.api("GET", "/network/v2.0/networks?name=public").json()["networks"][0]["id"]
    fip = cloud.api("POST", "/network/v2.0/floatingips", json={"floatingip": {
        "floating_network_id": public, "port_id": port["id"]}}).json()["floatingip"]
    ext = f"nimbus-ext-{tag(cloud)}"
    ssh = ["ip", "netns", "exec", ext, "ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no",
           "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes",
           f"nimbus@{fip['floating_ip_address']}"]
    quiet = "</dev/null >/dev/null 2>&1"
    wait("ssh through the floating IP", lambda: subprocess.run(
        ssh + ["mkdir -p /tmp/www && echo bench > /tmp/www/index.html && "
               f"httpd -p {HTTP_PORT} -h /tmp/www {quiet}"],
        capture_output=True, timeout=60, stdin=subprocess.DEVNULL).returncode == 0, 600, 3)
    return {"server": server["id"], "group": group, "fip": fip, "ext": ext}


def sg_effect(cloud: Cloud, setup: dict, runs: int, case: str = "sg", ports: int = 1) -> None:
    probe = subprocess.Popen(
        ["ip", "netns", "exec", setup["ext"], sys.executable, str(HERE / "tcp_probe.py"),
         setup["fip"]["floating_ip_address"], str(HTTP_PORT)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(cmd: str) -> dict:
        probe.stdin.write(cmd + "\n")
        probe.stdin.flush()
        answer = json.loads(probe.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"probe {cmd}: {answer['error']}")
        return answer

    rule = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
            "port_range_min": HTTP_PORT, "port_range_max": HTTP_PORT,
            "security_group_id": setup["group"]}
    try:
        ask("closed")  # the group does not admit the port yet
        for i in range(runs):
            probe.stdin.write("open\n")
            probe.stdin.flush()
            time.sleep(0.1)  # the probe is knocking before the rule exists
            sent = time.monotonic()
            resp = cloud.api("POST", "/network/v2.0/security-group-rules",
                             json={"security_group_rule": rule})
            answered = time.monotonic()
            opened = json.loads(probe.stdout.readline())
            if "error" in opened:
                raise RuntimeError(f"probe open: {opened['error']}")
            emit(case=case, ports=ports, post_ms=round((answered - sent) * 1000, 2),
                 effect_ms=round((opened["sent"] - answered) * 1000, 2),
                 effect_from_post_ms=round((opened["sent"] - sent) * 1000, 2))
            cloud.api("DELETE", "/network/v2.0/security-group-rules/"
                      + resp.json()["security_group_rule"]["id"])
            ask("closed")
    finally:
        probe.stdin.close()
        probe.wait(10)


def sg_scale(cloud: Cloud, setup: dict, extra: int, runs: int) -> None:
    """`sg_effect` again with `extra` more ports bound to this host (binding:host_id,
    in the default group, on a network of their own without DHCP): the agent
    renders and loads the whole ruleset on every change, so its size counts."""
    host = cloud.api("GET", "/compute/v2.1/os-hypervisors").json()[
        "hypervisors"][0]["hypervisor_hostname"]
    cloud.api("PUT", f"/network/v2.0/quotas/{cloud.project_id}",
              json={"quota": {"port": extra + 300}})
    net = cloud.api("POST", "/network/v2.0/networks", json={"network": {
        "name": "bench-scale"}}).json()["network"]["id"]
    cloud.api("POST", "/network/v2.0/subnets", json={"subnet": {
        "network_id": net, "cidr": "10.200.0.0/20", "ip_version": 4, "enable_dhcp": False}})
    ids = []
    try:
        for i in range(extra):
            ids.append(cloud.api("POST", "/network/v2.0/ports", json={"port": {
                "network_id": net, "name": f"scale-{i}",
                "binding:host_id": host}}).json()["port"]["id"])
        ns = f"nimbus-dp-{tag(cloud)}"

        def loaded():
            text = sh("ip", "netns", "exec", ns, "nft", "list", "table", "inet", "nimbus_sg",
                      check=False).stdout
            return text.count("\tchain egress_") == extra + 1
        wait(f"the ruleset of {extra + 1} ports", loaded, 300, 1)
        offset = (cloud.data_dir / "nimbus.log").stat().st_size
        sg_effect(cloud, setup, runs, case="sg-scale", ports=extra + 1)
        # The agent's own account of each load during those samples.
        for _, f in log_events(cloud.data_dir / "nimbus.log", offset):
            if f.get("message") == "security group ruleset applied" and "diff_ms" in f:
                emit(case="sg-scale-agent", ports=extra + 1, incremental=f.get("incremental"),
                     **{k: round(f[k], 2) for k in
                        ("store_and_render_ms", "diff_ms", "load_ms")})
    finally:
        for pid in ids:
            cloud.api("DELETE", f"/network/v2.0/ports/{pid}", expect=(204, 404))
        cloud.api("DELETE", f"/network/v2.0/networks/{net}", expect=(204, 404, 409))


# ---- DHCP --------------------------------------------------------------------

def dhcp_lease(cloud: Cloud, runs: int, network: str) -> None:
    bridge = "nbr-" + network.replace("-", "")[:11]
    dp = f"nimbus-dp-{tag(cloud)}"
    ns = f"nimbus-bench-dhcp-{os.getpid()}"
    client = [sys.executable, str(HERE / "dhcp_client.py")]
    sh("ip", "netns", "add", ns)
    try:
        for i in range(runs):
            outer, inner = f"nbvo{os.getpid() % 10000:04d}{i:02d}", f"nbvi{os.getpid() % 10000:04d}{i:02d}"
            sent = time.monotonic()
            port = cloud.api("POST", "/network/v2.0/ports", json={"port": {
                "network_id": network, "name": f"bench-dhcp-{i}",
                "device_owner": "compute:bench"}}).json()["port"]
            answered = time.monotonic()
            mac, ip = port["mac_address"], port["fixed_ips"][0]["ip_address"]
            try:
                sh("ip", "-n", dp, "link", "add", outer, "type", "veth", "peer", "name", inner,
                   "netns", ns)
                sh("ip", "-n", ns, "link", "set", inner, "address", mac, "up")
                sh("ip", "-n", dp, "link", "set", outer, "master", bridge, "up")
                first = json.loads(sh("ip", "netns", "exec", ns, *client, inner, mac,
                                      timeout=90).stdout)
                if first["address"] != ip:
                    raise RuntimeError(f"leased {first['address']}, the port has {ip}")
                again = json.loads(sh("ip", "netns", "exec", ns, *client, inner, mac,
                                      timeout=90).stdout)
                emit(case="dhcp", post_ms=round((answered - sent) * 1000, 2),
                     lease_ms=round((first["ack"] - sent) * 1000, 2),
                     lease_after_answer_ms=round((first["ack"] - answered) * 1000, 2),
                     known_lease_ms=round((again["ack"] - again["start"]) * 1000, 2))
            except Exception:
                for f in (cloud.data_dir / "dhcp").glob("*/dnsmasq.log"):
                    log(f"{f} ends with:\n" + "".join(f.read_text().splitlines(True)[-15:]))
                log(f"the port: {mac} {ip}")
                raise
            finally:
                sh("ip", "-n", dp, "link", "del", outer, check=False)
                cloud.api("DELETE", f"/network/v2.0/ports/{port['id']}", expect=(204, 404))
            # The delete makes the agent restart dnsmasq without the port's lease;
            # the next sample starts once that is over.
            hosts = cloud.data_dir / "dhcp" / network / "hosts"
            wait("the port's DHCP host entry to go", lambda: mac not in hosts.read_text(), 30, 0.05)
            wait("dnsmasq", lambda: any(
                Path(f"/proc/{p.read_text().strip()}").exists()
                for p in hosts.parent.glob("dnsmasq.pid")), 30, 0.05)
            time.sleep(0.5)
    finally:
        sh("ip", "netns", "del", ns, check=False)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bin", type=Path, required=True)
    p.add_argument("--guest-dir", type=Path, required=True)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--restarts", type=int, default=5)
    p.add_argument("--sg-scale-ports", type=int, default=1000)
    p.add_argument("--servers", type=int, default=5)
    p.add_argument("--ports-per-server", type=int, default=20)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="nimbus-bench-network-") as tmp:
        root = Path(tmp)
        key = root / "key"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
        cloud = Cloud(a.bin, root, "net", "--guest-image-dir", str(a.guest_dir), log=LOG)
        try:
            log(f"restart with no servers x {a.restarts}")
            restart_empty(cloud, a.restarts)
            template = compute.boot_setup(cloud, key)
            log("security groups: server with a floating IP and httpd")
            setup = sg_setup(cloud, template, key)
            log(f"security group rule create -> effect x {a.runs}")
            sg_effect(cloud, setup, a.runs)
            log(f"port create -> DHCP lease x {a.runs}")
            dhcp_lease(cloud, a.runs, template["networks"][0]["uuid"])
            if a.sg_scale_ports:
                log(f"security group rule create -> effect with {a.sg_scale_ports} more ports "
                    f"x {a.runs}")
                sg_scale(cloud, setup, a.sg_scale_ports, a.runs)
            cloud.api("DELETE", "/network/v2.0/floatingips/" + setup["fip"]["id"])
            compute.delete_all(cloud, [setup["server"]])
            if a.servers:
                log(f"restart with {a.servers} servers x {a.ports_per_server} ports")
                restart_loaded(cloud, template, a.servers, a.ports_per_server, a.restarts)
        finally:
            cloud.stop()


if __name__ == "__main__":
    main()
