#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Asks a real Prometheus server, through its HTTP API, what it scraped
from sluiced, for tests/netns/observe.bats. URL is the server's base URL.

  prom.py URL ready [TIMEOUT]
      Waits until the server answers /-/ready.
  prom.py URL wait EXPR VALUE [TIMEOUT]
      Waits until the sum of EXPR's instant vector is VALUE; prints it.
  prom.py URL samples EXPR START N [TIMEOUT]
      Waits until every series of EXPR has N samples since START (unix
      seconds): scrapes that a later increase() can start from.
  prom.py URL vector EXPR LABEL
      Prints {label value: value} of EXPR's instant vector as JSON.
  prom.py URL compare IFACE STATS RULES SENT
      Checks that what Prometheus holds of IFACE equals `sluicectl -j stats`
      (file STATS) per stage and per verdict, `sluicectl -j rule list`
      (file RULES) per rule, and SENT packets in all.
  prom.py URL alert NAME [LABEL=VALUE...] [--timeout S]
      Waits until alert NAME is firing with those labels; prints it.
  prom.py URL missedtest EXPR START RULEFILE OUT [LABEL=VALUE...]
      Writes a `promtool test rules` file OUT whose input series are EXPR's
      (sluice_stage_missed_tail_calls_total) samples as Prometheus scraped
      them since START (unix seconds, one a second) and which expects
      SluiceMissedTailCalls to fire at the last sample for every series that
      grew, with its labels plus LABEL=VALUE (the rule's own) and the
      rule's annotations for that increase.
"""
import json
import sys
import time
import urllib.parse
import urllib.request


def api(url, path, **params):
    q = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}{path}?{q}", timeout=10) as r:
        d = json.load(r)
    if d.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {d}")
    return d["data"]


def instant(url, expr):
    return api(url, "/api/v1/query", query=expr)["result"]


def total(url, expr):
    return sum(float(s["value"][1]) for s in instant(url, expr))


def vector(url, expr, label):
    return {s["metric"].get(label, ""): float(s["value"][1]) for s in instant(url, expr)}


def sel(iface, extra=""):
    v = iface.replace("\\", "\\\\").replace('"', '\\"')
    return f'{{iface="{v}"{extra}}}'


def cmd_ready(url, timeout="60"):
    end = time.time() + float(timeout)
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as r:
                if r.status == 200:
                    return 0
        except OSError:
            pass
        time.sleep(0.2)
    print(f"{url} not ready after {timeout} s", file=sys.stderr)
    return 1


def cmd_wait(url, expr, value, timeout="60"):
    end = time.time() + float(timeout)
    got = None
    while time.time() < end:
        got = total(url, expr)
        if got == float(value):
            print(int(got) if got.is_integer() else got)
            return 0
        time.sleep(0.5)
    print(f"{expr}: {got}, want {value} (after {timeout} s)", file=sys.stderr)
    return 1


def cmd_samples(url, expr, start, n, timeout="60"):
    end = time.time() + float(timeout)
    got = []
    while time.time() < end:
        q = f"count_over_time({expr}[{int(time.time() - float(start)) + 1}s])"
        got = [float(s["value"][1]) for s in instant(url, q)]
        if got and min(got) >= float(n):
            return 0
        time.sleep(0.5)
    print(f"{expr}: samples since {start}: {got}, want {n} each", file=sys.stderr)
    return 1


def cmd_vector(url, expr, label):
    print(json.dumps(vector(url, expr, label), sort_keys=True))
    return 0


def cmd_compare(url, iface, stats_file, rules_file, sent):
    stats = json.load(open(stats_file))["interfaces"][0]
    rules = json.load(open(rules_file))["rules"]
    errs = []

    def want(what, got, exp):
        if got != exp:
            errs.append(f"{what}: Prometheus {got}, want {exp}")

    p = stats["pipeline"]
    want("packets sent", total(url, f"sluice_packets_total{sel(iface)}"), float(sent))
    want("pipeline packets", float(p["packets"]), float(sent))
    verdicts = vector(url, f"sluice_packets_total{sel(iface)}", "verdict")
    for v, n in p["verdicts"].items():
        want(f"verdict {v}", verdicts.get(v), float(n))
    pkts = vector(url, f"sluice_stage_packets_total{sel(iface)}", "slot")
    byts = vector(url, f"sluice_stage_bytes_total{sel(iface)}", "slot")
    missed = vector(url, f"sluice_stage_missed_tail_calls_total{sel(iface)}", "slot")
    for s in stats["stages"]:
        slot = str(s["slot"])
        want(f"stage {s['name']} packets", pkts.get(slot), float(s["packets"]))
        want(f"stage {s['name']} bytes", byts.get(slot), float(s["bytes"]))
        want(f"stage {s['name']} missed", missed.get(slot), float(s["missed"]))
        sv = vector(url, f"sluice_stage_verdicts_total{sel(iface, f',slot={json.dumps(slot)}')}",
                    "verdict")
        for v, n in s["verdicts"].items():
            want(f"stage {s['name']} verdict {v}", sv.get(v), float(n))
    hits = vector(url, f"sluice_acl_rule_hits_total{sel(iface)}", "rule")
    hbytes = vector(url, f"sluice_acl_rule_bytes_total{sel(iface)}", "rule")
    for r in rules:
        want(f"rule {r['id']} hits", hits.get(str(r["id"])), float(r["packets"]))
        want(f"rule {r['id']} bytes", hbytes.get(str(r["id"])), float(r["bytes"]))
    if len(hits) != len(rules):
        errs.append(f"rules: Prometheus has {sorted(hits)}, sluicectl {[r['id'] for r in rules]}")
    if errs:
        print("\n".join(errs), file=sys.stderr)
        return 1
    print(f"{iface}: {sent} packets, {len(stats['stages'])} stages, {len(rules)} rules agree")
    return 0


def cmd_alert(url, name, *args):
    timeout, labels = 60.0, {}
    it = iter(args)
    for a in it:
        if a == "--timeout":
            timeout = float(next(it))
        else:
            k, v = a.split("=", 1)
            labels[k] = v
    end = time.time() + timeout
    seen = []
    while time.time() < end:
        seen = api(url, "/api/v1/alerts")["alerts"]
        for a in seen:
            if (a["labels"].get("alertname") == name and a["state"] == "firing"
                    and all(a["labels"].get(k) == v for k, v in labels.items())):
                print(json.dumps(a, sort_keys=True))
                return 0
        time.sleep(0.5)
    rules = [r for g in api(url, "/api/v1/rules")["groups"] for r in g["rules"] if r.get("name") == name]
    print(f"no firing {name} {labels} after {timeout} s; alerts: {json.dumps(seen)}; rule: "
          f"{json.dumps(rules)}", file=sys.stderr)
    return 1


def yq(s):
    """A YAML double-quoted scalar (JSON's string syntax is a subset)."""
    return json.dumps(s)


def cmd_missedtest(url, expr, start, rulefile, out, *extra):
    end = time.time()
    data = api(url, "/api/v1/query_range", query=expr, start=start, end=f"{end:.3f}", step="1")
    res = data["result"]
    if not res:
        print(f"{expr}: no samples since {start}", file=sys.stderr)
        return 1
    lines = [
        "rule_files:",
        f"  - {yq(rulefile)}",
        "evaluation_interval: 1s",
        "tests:",
        "  - interval: 1s",
        "    input_series:",
    ]
    # Steps of query_range are start + k seconds; a step a series lacks is "_" for promtool.
    t0 = float(start)
    n = max(int(round(float(t) - t0)) for s in res for t, _ in s["values"]) + 1
    grid = []
    for s in res:
        m = dict(s["metric"])
        name = m.pop("__name__")
        labels = ",".join(f"{k}={yq(v)}" for k, v in sorted(m.items()))
        at = {int(round(float(t) - t0)): v for t, v in s["values"]}
        grid.append([at.get(k) for k in range(n)])
        lines.append(f"      - series: {yq(name + '{' + labels + '}')}")
        lines.append(f"        values: {yq(' '.join(v if v is not None else '_' for v in grid[-1]))}")
    lines += [
        "    alert_rule_test:",
        f"      - eval_time: {n - 1}s",
        "        alertname: SluiceMissedTailCalls",
        "        exp_alerts:",
    ]
    for s, col in zip(res, grid):
        m = dict(s["metric"])
        m.pop("__name__")
        vals = [float(v) for v in col if v is not None]
        if col[-1] is None or vals[0] != 0:
            print(f"{m}: want samples from 0 up to the last step, got {col}", file=sys.stderr)
            return 1
        # increase() from a first sample of 0 has nothing to extrapolate: exactly last - first.
        if vals[-1] - vals[0] <= 0:
            continue
        for kv in extra:
            k, v = kv.split("=", 1)
            m[k] = v
        lines.append("          - exp_labels:")
        for k, v in sorted(m.items()):
            lines.append(f"              {k}: {yq(v)}")
        lines.append("            exp_annotations:")
        inc = vals[-1] - vals[0]
        summary = f"{m['iface']}: packets met an empty slot {m['slot']} ({m['stage']})"
        lines.append(f"              summary: {yq(summary)}")
        desc = (f"{inc:.0f} packets in 5 minutes found slot {m['slot']} ({m['stage']}) of "
                f"{m['iface']} empty and got the pipeline's default verdict without running the "
                "stages after it.")
        lines.append(f"              description: {yq(desc)}")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{out}: {len(res)} series, {n} samples")
    return 0


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    fn = globals().get(f"cmd_{cmd}")
    if not fn:
        print(__doc__, file=sys.stderr)
        return 2
    return fn(url, *args)


if __name__ == "__main__":
    sys.exit(main())
