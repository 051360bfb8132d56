"""The webhook benchmark runs and prints its ratios (the numbers themselves are not asserted: no wall-clock tests)."""
import re

from tests.conftest import run_benchmark


def test_webhook_benchmark_runs_and_prints_its_ratios():
    out = run_benchmark("webhook_bench.py")
    assert re.search(r"ratio acks appliance/bare[^:]*: \d+\.\d+", out), out
    assert re.search(r"ratio webhook-to-reply/bare model[^:]*: \d+\.\d+", out), out
    assert re.search(r"p99 +\d+\.\d+ ms", out), out
