"""Turns bench/network's JSON lines (sg_program + cloud) into the markdown section
docs/benchmarks.md records: medians over the samples, the baselines of the same
run, ratios, and the issue's targets."""

import json
import os
import statistics
import subprocess
import sys
import time

sg_path, cloud_path, command = sys.argv[1:4]


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


records = lines(sg_path) + lines(cloud_path)


def values(case, key):
    return [r[key] for r in records if r["case"] == case and r.get(key) is not None]


def med(case, key):
    v = values(case, key)
    return statistics.median(v) if v else None


def fmt(x, unit="ms"):
    return "–" if x is None else f"{x:,.1f} {unit}"


def ms(x):
    return None if x is None else x * 1000


rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                     text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                       capture_output=True, text=True).stdout.strip()
load = os.getloadavg()[0]
out = [f"## Network dataplane ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
       f"Command: `{command}` · nimbus rev {rev}{' (+ uncommitted changes)' if dirty else ''}, "
       f"{os.environ.get('PROFILE', 'dev')} build · load average at the end: {load:.1f} on {os.cpu_count()} cores", "",
       "| measurement | samples | median | baseline (same run) | ratio | target | met |",
       "|---|---:|---:|---|---:|---|---|"]


def row(name, case, key, value, base_name, base, target_ms):
    n = len(values(case, key))
    target = f"< {target_ms:,} ms" if target_ms else "none set"
    if value is None:
        out.append(f"| {name} | 0 | – | | | {target} | not measured |")
        return
    ratio = f"×{value / base:,.1f}" if base else "–"
    met = "–" if not target_ms else "yes" if value < target_ms else "**no**"
    out.append(f"| {name} | {n} | {fmt(value)} | {base_name}: {fmt(base)} | {ratio} | "
               f"{target} | {met} |")


row("security-group rule create (API answer) → traffic admitted", "sg", "effect_ms",
    med("sg", "effect_ms"), "POST round trip", med("sg", "post_ms"), 100)
scale = next((r["ports"] for r in records if r["case"] == "sg-scale"), None)
if scale:
    row(f"the same with {scale:,} ports on the host", "sg-scale", "effect_ms",
        med("sg-scale", "effect_ms"), "POST round trip", med("sg-scale", "post_ms"), 100)
ports = next((r["ports"] for r in records if r["case"] == "apply-replace"), None)
row(f"program {ports} ports' rules: render + replace the loaded ruleset", "apply-replace", "ms",
    (med("render", "ms") or 0) + med("apply-replace", "ms") if med("apply-replace", "ms") else None,
    "apply of an empty ruleset", med("apply-empty", "ms"), 2000)
row(f"program {ports} ports' rules: render + first load", "apply-first", "ms",
    (med("render", "ms") or 0) + med("apply-first", "ms") if med("apply-first", "ms") else None,
    "apply of an empty ruleset", med("apply-empty", "ms"), 2000)
row("port create (POST sent) → DHCP lease of its address", "dhcp", "lease_ms",
    med("dhcp", "lease_ms"), "lease for a known MAC", med("dhcp", "known_lease_ms"), None)
restart = [r for r in records if r["case"] == "restart"]
n_ports = restart[0]["ports"] if restart else 0
row(f"agent restart → reconciled, {n_ports} ports", "restart", "reconciled_s",
    ms(med("restart", "reconciled_s")), "restart without servers",
    ms(med("restart-empty", "reconciled_s")), 1000)
if med("apply-rule-delta", "ms") is not None:
    row(f"{ports} ports: render + load a rule added to one group (100 ports)", "apply-rule-delta",
        "ms", (med("render", "ms") or 0) + med("apply-rule-delta", "ms"),
        "apply of an empty ruleset", med("apply-empty", "ms"), 2000)
out.append("")
out.append("Details (medians):")
out.append(f"- rule → effect: from the POST being sent {fmt(med('sg', 'effect_from_post_ms'))}; "
           f"probe: a TCP connect every 2 ms from `nimbus-ext-<tag>` to the floating IP, the "
           f"effect is when the first attempt that succeeded was sent")
out.append(f"- {ports} ports: render {fmt(med('render', 'ms'))}, first load "
           f"{fmt(med('apply-first', 'ms'))}, replace {fmt(med('apply-replace', 'ms'))}, "
           f"only the difference after a rule added {fmt(med('apply-rule-delta', 'ms'))} "
           f"(`ip netns exec … nft -f -`, one transaction, "
           f"{next((r['ruleset_lines'] for r in records if r['case'] == 'render'), 0):,} lines)")
out.append(f"- DHCP: POST round trip {fmt(med('dhcp', 'post_ms'))}, lease after the API's answer "
           f"{fmt(med('dhcp', 'lease_after_answer_ms'))}; client: DISCOVER every 5 ms, then "
           f"REQUEST → ACK")
agent = [r for r in records if r["case"] == "sg-scale-agent" and r.get("incremental")]
if agent:
    out.append(f"- with {agent[0]['ports']:,} ports, the agent's loads during those samples "
               f"({len(agent)} incremental): store read + render "
               f"{fmt(statistics.median(r['store_and_render_ms'] for r in agent))}, difference "
               f"{fmt(statistics.median(r['diff_ms'] for r in agent))}, `nft -f` of it "
               f"{fmt(statistics.median(r['load_ms'] for r in agent))}")
if restart:
    out.append(f"- restart with {restart[0]['servers']} servers × {n_ports // restart[0]['servers']} "
               f"ports: `/healthz` answers at {fmt(ms(med('restart', 'healthy_s')))}, first agent pass done at "
               f"{fmt(ms(med('restart', 'first_pass_s')))} (the pass itself "
               f"{fmt(med('restart', 'pass_ms'))}), every server adopted at "
               f"{fmt(ms(med('restart', 'workers_s')))}, ruleset loaded at "
               f"{fmt(ms(med('restart', 'sg_s')))}, all from the process start; checked after each: "
               f"taps, ruleset identical to before ({restart[0]['ruleset_lines']} lines), same dnsmasq, "
               f"servers ACTIVE: {sum(r['verified'] for r in restart)}/{len(restart)} passed")
    out.append(f"- restart without servers: first pass done at "
               f"{fmt(ms(med('restart-empty', 'first_pass_s')))} (the pass "
               f"{fmt(med('restart-empty', 'pass_ms'))})")
print("\n".join(out))
