#!/usr/bin/env python3
"""Compares two `netverdict run --json` reports of the same files, probe for probe: the real
lane's and a local cluster's emulating it (`--local --cni none --emulate lane`).

Usage: compare.py REAL.json LOCAL.json. Prints one row per probe: its verdict (status and
outcome) on each, and whether they differ. A difference listed in EXPLAINED is printed with its
reason (README.md, "The real Kubernetes lane", says the same); any other difference, or a probe
missing from one report, is printed as DIFFERS and makes the exit status 1.
"""
import json
import sys

# (scenario, probe name) -> why the lane and the local emulation of it differ there. Every entry
# is also explained in README.md; none is expected: the local cluster emulates the lane.
EXPLAINED = {}


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
    """What the comparison compares: the status, the outcome kind, and the engine's prediction
    from the cluster's policies when it contradicts the expectation (the failure is then the
    expectation's, on that cluster, not the network's)."""
    if probe is None:
        return None
    prediction = probe.get("prediction") or {}
    contradicts = prediction.get("verdict") if prediction.get("agrees") is False else None
    return (probe.get("status"), (probe.get("outcome") or {}).get("kind", "-"), contradicts)


def shown(probe):
    seen = verdict(probe)
    if seen is None:
        return "(missing)"
    status, outcome, contradicts = seen
    return f"{status} ({outcome}" + (f"; policies: {contradicts})" if contradicts else ")")


def rows(real, local):
    """One row per probe, and the counts of same, explained and unexplained verdicts."""
    table = [("scenario", "probe", "expect", "real cluster", "local --emulate lane", "difference")]
    counts = {"same": 0, "explained": 0, "differs": 0}
    for key in sorted(set(real) | set(local)):
        r, l = real.get(key), local.get(key)
        label = key[1] or f"{key[2]} -> {key[3]}:{key[4]}/{key[5]}"
        reason = EXPLAINED.get((key[0], key[1]))
        if r is not None and verdict(r) == verdict(l):
            difference, kind = "", "same"
        elif reason is not None and r is not None and l is not None:
            difference, kind = f"explained: {reason}", "explained"
        else:
            difference, kind = "DIFFERS", "differs"
        counts[kind] += 1
        expect = (r or l).get("expect", "")
        table.append((key[0], label[:52], expect, shown(r), shown(l), difference))
    return table, counts


def main():
    real_report, real = probes(sys.argv[1])
    local_report, local = probes(sys.argv[2])
    for name, report in (("real", real_report), ("local", local_report)):
        if report.get("error"):
            print(f"{name} run error: {report['error']}")
        print(f"{name} run: enforcement {report.get('enforcement') or 'not checked'}")
    table, counts = rows(real, local)
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    total = len(table) - 1
    print(f"{total} probes: {counts['same']} with the same verdict, "
          f"{counts['explained']} explained differences, {counts['differs']} unexplained")
    return 1 if counts["differs"] or not total else 0


if __name__ == "__main__":
    sys.exit(main())
