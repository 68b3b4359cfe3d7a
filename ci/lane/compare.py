#!/usr/bin/env python3
"""Compares two `netverdict run --json` reports of the same files, probe for probe.

Usage: compare.py REAL.json LOCAL.json. Prints one row per probe (the verdict on each and whether
they differ) and exits 1 when any verdict differs or a probe is missing from one report.
"""
import json
import sys


def probes(path):
    with open(path) as f:
        report = json.load(f)
    found = {}
    for scenario in report.get("scenarios", []):
        for probe in scenario.get("probes", []):
            key = (scenario["name"], probe.get("name") or "",
                   probe.get("from"), str(probe.get("to")), str(probe.get("port")), probe.get("via"))
            found[key] = probe
    return report, found


def verdict(probe):
    if probe is None:
        return "(missing)"
    outcome = (probe.get("outcome") or {}).get("kind", "-")
    return f"{probe.get('status')} ({outcome})"


def main():
    real_report, real = probes(sys.argv[1])
    local_report, local = probes(sys.argv[2])
    for name, report in (("real", real_report), ("local", local_report)):
        if report.get("error"):
            print(f"{name} run error: {report['error']}")
    keys = sorted(set(real) | set(local))
    rows = [("scenario", "probe", "expect", "real cluster", "local --cni none", "")]
    differ = 0
    for key in keys:
        r, l = real.get(key), local.get(key)
        a, b = verdict(r), verdict(l)
        same = r is not None and l is not None and r.get("status") == l.get("status")
        differ += not same
        label = key[1] or f"{key[2]} -> {key[3]}:{key[4]}/{key[5]}"
        expect = (r or l).get("expect", "")
        rows.append((key[0], label[:48], expect, a, b, "" if same else "DIFFERS"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(6)]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    print(f"{len(keys)} probes, {differ} differ")
    return 1 if differ or not keys else 0


if __name__ == "__main__":
    sys.exit(main())
