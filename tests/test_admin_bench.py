"""The admin console benchmark runs (quick mode) and prints every page and the shipped JS+CSS (no time asserted)."""
import re

from tests.conftest import run_benchmark


def test_admin_bench_runs_quick():
    out = run_benchmark("admin_bench.py")
    assert "1,000 conversations, 20,000 messages" in out
    for page in ("/admin/ ", "/knowledge ", "/assistant ", "/channels ", "/users ", "/setup/done ", "/inbox ",
                 "/inbox?status=open ", "/inbox?mine=1 ", "/inbox/<id> "):
        assert re.search(re.escape(page) + r"\s+[\d.]+\s+[\d.]+", out), page
    assert re.search(r"slowest inbox list p95: [\d.]+ ms", out)
    assert re.search(r"slowest page p95: [\d.]+ ms", out) and re.search(r"JS\+CSS shipped: [\d.]+ KB", out)
