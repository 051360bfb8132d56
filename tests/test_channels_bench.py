"""The webhook benchmark runs and prints its ratios (the numbers themselves are not asserted: no wall-clock tests)."""
import re
import subprocess
import sys

from tests.conftest import REPO


def test_webhook_benchmark_runs_and_prints_its_ratios():
    result = subprocess.run([sys.executable, "tests/benchmarks/webhook_bench.py", "--quick"], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"ratio acks appliance/bare[^:]*: \d+\.\d+", out), out
    assert re.search(r"ratio webhook-to-reply/bare model[^:]*: \d+\.\d+", out), out
    assert re.search(r"p99 +\d+\.\d+ ms", out), out
