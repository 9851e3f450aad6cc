#!/usr/bin/env python3
"""Summarise limits-matrix.sh output (stdin) as a Markdown table: per cell and
variant, the median records/s with the range over trials, the median p99, and
each variant's median as a share of the `off` variant's."""
import statistics
import sys
from collections import defaultdict


def main():
    rows = [line.split() for line in sys.stdin if line.strip()]
    header, rows = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    cells = defaultdict(lambda: defaultdict(list))
    variants = []
    for r in rows:
        v = r[col["variant"]]
        if v not in variants:
            variants.append(v)
        key = (int(r[col["rf"]]), int(r[col["batch"]]), int(r[col["concurrency"]]))
        cells[key][v].append(r)
    print("| RF | batch | concurrency | " + " | ".join(
        f"{v}: median records/s (min-max), p99" for v in variants
    ) + " | " + " | ".join(f"{v} / off" for v in variants if v != "off") + " | failed |")
    print("| --- " * (3 + len(variants) + len(variants) - 1 + 1) + "|")
    for key in sorted(cells):
        med = {}
        parts = []
        failed = 0
        for v in variants:
            runs = cells[key][v]
            rps = [float(r[col["records_per_s"]]) for r in runs]
            p99 = [r[col["p99"]] for r in runs]
            failed += sum(int(r[col["failed"]] or 0) for r in runs)
            med[v] = statistics.median(rps)
            p99.sort(key=duration_ms)
            parts.append(
                f"{med[v]:,.0f} ({min(rps):,.0f}-{max(rps):,.0f}), {p99[len(p99) // 2]}"
            )
        ratios = [
            f"{100 * med[v] / med['off']:.0f}%" for v in variants if v != "off"
        ]
        print(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(parts) + " | "
              + " | ".join(ratios) + f" | {failed} |")


def duration_ms(text):
    """Rust's Debug form of a Duration (`1.2ms`, `850µs`, `1.1s`) in ms."""
    for unit, scale in (("ms", 1.0), ("µs", 1e-3), ("ns", 1e-6), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float("inf")


if __name__ == "__main__":
    main()
