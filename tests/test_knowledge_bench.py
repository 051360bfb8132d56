"""The knowledge-base benchmark runs and prints its ratios (the numbers are not asserted: no wall-clock tests)."""
import re

from tests.conftest import run_benchmark


def test_rag_benchmark_runs_and_prints_its_ratios():
    out = run_benchmark("rag_bench.py")
    assert re.search(r"ratio ingestion appliance/bare encode: \d+\.\d+", out), out
    assert re.search(r"recall@10 at \d+: \d\.\d+", out), out
    assert re.search(r"ratio speed-up exact/hnsw at \d+: \d+\.\d+x", out), out
    assert re.search(r"index size at \d+: \d+\.\d+ MB", out), out
    assert re.search(r"hybrid search p95 at \d+: \d+\.\d+ ms .* bare hnswlib knn_query p95 \d+\.\d+ ms", out), out
    assert re.search(r"ratio cached/model answer: \d\.\d+", out), out
