"""A/B split benchmark (issue 12): simulated customers asked by an A/B rule action, through ab.variant_for and the
real database (a new data folder).

For each experiment (weights 50/50, 20/30/50 and 10/90) every customer is asked once (the first ask stores the
Assignment row), then asked again, then asked in a dry run. Prints, per variant, the share against its weight; the
largest gap in percentage points (target: within 3); the share of re-asks and dry runs that got the first answer
(target: 100%); and the cost of a first ask and of a re-ask.

Run: .venv/bin/python tests/benchmarks/ab_split.py [--quick] [--customers N]
(The lead merges `ab_split` into automation_bench.py as its A/B section.)
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

EXPERIMENTS = {"even": [50, 50], "three": [20, 30, 50], "skewed": [10, 90]}
TARGET_POINTS = 3.0


def ab_split(customers: int) -> dict:
    """Split `customers` simulated customers over each experiment; print and return the figures."""
    from appliance.automation import ab
    from appliance.automation.actions import Turn
    from appliance.auth import create_tenant
    from appliance.db import database, open_database
    from appliance.records import Assignment, Channel, Customer

    with tempfile.TemporaryDirectory() as folder:
        open_database(Path(folder) / "appliance.db")
        tenant, _ = create_tenant("A/B bench")
        channel = Channel.create(tenant=tenant.id, kind="web", name="web")
        with database.atomic():
            for start in range(0, customers, 500):
                Customer.insert_many([{"tenant": tenant.id, "channel": channel.id, "external_id": f"s{n}"}
                                      for n in range(start, min(customers, start + 500))]).execute()
        people = list(Customer.select().where(Customer.tenant == tenant.id))
        worst, sticky, asks, first_ms, again_ms = 0.0, 0, 0, 0.0, 0.0
        for name, weights in EXPERIMENTS.items():
            variants = [{"name": f"v{n}", "weight": w, "actions": []} for n, w in enumerate(weights)]
            key = f"rule:rul_bench:{name}"
            started = time.perf_counter()
            first = {c.id: ab.variant_for(Turn(None, tenant.id, c), key, variants)["name"] for c in people}
            first_ms += (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            again = {c.id: ab.variant_for(Turn(None, tenant.id, c), key, variants)["name"] for c in people}
            again_ms += (time.perf_counter() - started) * 1000
            dry = {c.id: ab.variant_for(Turn(None, tenant.id, c, dry_run=True), key, variants)["name"] for c in people}
            stored = dict(Assignment.select(Assignment.customer, Assignment.variant)
                          .where(Assignment.experiment == key).tuples())
            sticky += sum(first[c] == again[c] == dry[c] == stored[c] for c in first)
            asks += len(first)
            shares = []
            for variant in variants:
                share = 100.0 * sum(v == variant["name"] for v in first.values()) / len(first)
                wanted = 100.0 * variant["weight"] / sum(weights)
                worst = max(worst, abs(share - wanted))
                shares.append(f"{variant['name']} {share:.1f}% (weight {wanted:.0f}%)")
            print(f"A/B {name:7s} {len(first)} customers: " + ", ".join(shares))
        database.close()
    figures = {"customers": customers, "worst_points": round(worst, 2), "sticky": sticky / asks,
               "first_ask_ms": first_ms / asks, "re_ask_ms": again_ms / asks}
    print(f"A/B split: largest gap {figures['worst_points']:.2f} percentage points (target <= {TARGET_POINTS:g}); "
          f"sticky {100 * figures['sticky']:.2f}% of re-asks and dry runs (target 100%); "
          f"first ask {figures['first_ask_ms']:.3f} ms, re-ask {figures['re_ask_ms']:.3f} ms per customer")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 customers instead of 10,000")
    parser.add_argument("--customers", type=int, default=None)
    args = parser.parse_args()
    figures = ab_split(args.customers or (2000 if args.quick else 10_000))
    ok = figures["worst_points"] <= TARGET_POINTS and figures["sticky"] == 1.0
    print("A/B targets met" if ok else "A/B TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
