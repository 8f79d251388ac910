"""Turns bench/compute's JSON lines (floor + nimbus) into the markdown section
docs/benchmarks.md records: medians, ratios against the floor, and the targets."""

import json
import os
import statistics
import sys
import time

floor_path, nimbus_path, command, parallel = sys.argv[1:5]


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


floor = {r["case"]: r for r in lines(floor_path) if r.get("kind") == "median"}
nimbus = lines(nimbus_path)


def med(case, key):
    values = [r[key] for r in nimbus if r["case"] == case and r.get(key) is not None]
    return statistics.median(values) if values else None


load = os.getloadavg()[0]
out = [f"## Compute: create → ACTIVE / SSH-ready ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
       "", f"Command: `{command}` (load average at the end: {load:.1f} on {os.cpu_count()} cores)", "",
       "| case | floor ready / ssh (s) | nimbus ACTIVE (s) | nimbus SSH-ready (s) | target: ≤ 1.5 × floor + 1 s | met |",
       "|---|---|---|---|---|---|"]
for n in ("1", parallel):
    f = floor.get(f"floor-{n}")
    active, ssh = med(f"nimbus-{n}", "active_s"), med(f"nimbus-{n}", "ssh_s")
    if not f or ssh is None:
        continue
    target = 1.5 * f["ssh_s"] + 1
    out.append(f"| {n} at a time | {f['ready_s']:.2f} / {f['ssh_s']:.2f} | {active:.2f} | {ssh:.2f} "
               f"(×{ssh / f['ssh_s']:.2f}) | {target:.2f} | {'yes' if ssh <= target else 'NO'} |")
out.append("")
cpu = [r["cpu_per_server_ms"] for r in nimbus if r["case"].startswith("nimbus-")]
api_cpu = [r["cpu_per_server_ms"] for r in nimbus if r["case"] == "create-api-only"]
if cpu:
    out.append(f"- control-plane CPU per server create (nimbus process: API + scheduler + agent, "
               f"POST → SSH-ready; QEMU and the tools it runs are other processes): median {statistics.median(cpu):.1f} ms (target < 50 ms)")
if api_cpu:
    out.append(f"- API-only create CPU (multi-create, no agent): {api_cpu[0]:.2f} ms per server")
for r in nimbus:
    if r["case"].startswith("list"):
        out.append(f"- `GET {r['case'][5:]}` with {r['servers']} servers: median {r['median_ms']} ms, "
                   f"max {r['max_ms']} ms (target < 100 ms)")
print("\n".join(out))
