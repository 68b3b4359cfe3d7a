#!/usr/bin/env python3
"""Compares two `netverdict run --json` reports of the same files, probe for probe: the real
lane's and a local cluster's emulating it (`--local --cni none --emulate lane`).

Usage: compare.py REAL.json LOCAL.json. Prints one row per probe: its verdict (status and
outcome) on each, and whether they differ. A difference that EXPLAINED accounts for is printed
with its reason (docs/real-lane.md says the same); any other difference, or a probe missing from
one report, is printed as DIFFERS and makes the exit status 1.
"""
import json
import sys

# DNS that does not answer: the lane's node answers the pods' DNS queries with ICMP port
# unreachable, the local cluster's kube-dns Service without endpoints too, and the kernel
# rate-limits those errors (net.ipv4.icmp_ratelimit), so whether a lookup ends refused or times
# out depends on how many came just before. Either way it is the same "DNS did not answer".
SILENT_DNS = {"refused", "dns-timeout"}


def silent_dns(real, local):
    """Both probes' DNS did not answer (a DNS probe, or a name that did not resolve), one
    refused and the other timed out, with the same status and prediction."""
    def dns(probe):
        return probe.get("via") == "dns" or probe.get("unresolved") is True
    (rs, ro, rc), (ls, lo, lc) = verdict(real), verdict(local)
    return dns(real) and dns(local) and rs == ls and rc == lc and {ro, lo} <= SILENT_DNS


# Why the lane and the local emulation of it may differ, each as a test of the two probes and the
# reason printed in the table; docs/real-lane.md explains the same. Any other difference fails.
EXPLAINED = [
    (silent_dns, "DNS did not answer on both: refused or timed out as the kernel rate-limits "
                 "its ICMP errors"),
]


def explanation(real, local):
    if real is None or local is None:
        return None
    return next((reason for test, reason in EXPLAINED if test(real, local)), None)


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
        reason = explanation(r, l)
        if r is not None and verdict(r) == verdict(l):
            difference, kind = "", "same"
        elif reason is not None:
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
