"""Measure the PyInstaller binary: size, start to /healthz, start to first real reply, idle RSS.

Usage: .venv/bin/python tests/benchmarks/measure_binary.py [--dist dist/appliance] [--runs 2]
Without --dist it builds with `pyinstaller build.spec` into ./dist first. The same numbers are taken for
`python -m appliance serve` from the venv, so the binary's cost shows as a ratio. Not a test: prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.test_binary import bare_env, get_json  # noqa: E402  (same bare environment and HTTP helper)
from tests.conftest import free_port  # noqa: E402


def folder_mb(path: Path, skip: str | None = None) -> float:
    """Size of a folder tree in MB (apparent sizes), optionally without one top-level entry."""
    total = 0
    for item in path.rglob("*"):
        if skip and item.relative_to(path).parts[0] == skip:
            continue
        if item.is_file() and not item.is_symlink():
            total += item.stat().st_size
    return total / 1e6


def rss_mb(pid: int) -> tuple[float, float]:
    """Current and peak resident memory of a process, from /proc (MB)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def create_tenant(command: list[str], data: Path, env: dict) -> str:
    """A tenant made through the CLI (before the timed start), returning its API token."""
    out = subprocess.run(command + ["--data", str(data), "tenant", "create", "Bench Shop", "--json"], env=env,
                         capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])["api_token"]


def wait_health(base: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Return as soon as /healthz answers at all (loading or ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            get_json(base + "/healthz", timeout=1)
            return
        except (OSError, ValueError):
            time.sleep(0.02)
    raise SystemExit("/healthz never answered")


def wait_models(base: str, timeout: float = 300) -> None:
    """Return when /healthz reports the models loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = get_json(base + "/healthz", timeout=2)
        if body.get("model", {}).get("status") == "ready":
            return
        if body.get("model", {}).get("status") == "failed":
            raise SystemExit(f"model loading failed: {body}")
        time.sleep(0.05)
    raise SystemExit("the models never became ready")


def measure(command: list[str], env: dict, workdir: Path) -> dict:
    """Start `command serve` on a fresh data folder and time health, first reply and idle memory."""
    data, port = workdir / "data", free_port()
    token = create_tenant(command, data, env)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    proc = subprocess.Popen(command + ["serve", "--port", str(port), "--data", str(data)], env=env, cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_health(base, proc)
        health_s = time.monotonic() - started
        wait_models(base)
        ready_s = time.monotonic() - started
        # Asked the moment the models are ready: what the first customer after a restart would wait.
        status, body = get_json(base + "/api/v1/assistant/test", body={"text": "When do you open?"},
                                headers={"Authorization": f"Bearer {token}"}, timeout=300)
        reply_s = time.monotonic() - started
        if status != 200 or not body.get("reply"):
            raise SystemExit(f"no reply: {status} {body}")
        time.sleep(3)  # let the reply's buffers settle before reading idle memory
        rss, peak = rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return {"health_s": health_s, "ready_s": ready_s, "reply_s": reply_s, "rss_mb": rss, "peak_mb": peak, "exit": proc.returncode}


def build(dist: Path) -> None:
    """`pyinstaller build.spec` into dist's parent, timed."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "PyInstaller", str(REPO / "build.spec"), "--noconfirm",
                    "--distpath", str(dist.parent), "--workpath", str(REPO / "build")], cwd=REPO, check=True)
    print(f"built {dist} in {time.monotonic() - started:.0f} s")


def main() -> int:
    """Build or reuse the binary, measure it and the venv the same way, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, help="an existing onedir bundle (default: build into ./dist/appliance)")
    parser.add_argument("--runs", type=int, default=2, help="starts per variant, each on a fresh data folder")
    args = parser.parse_args()
    dist = args.dist or REPO / "dist" / "appliance"
    if not args.dist:
        build(dist)
    venv_env = {**bare_env(Path(tempfile.gettempdir())), "APPLIANCE_MODELS": str(REPO / "models")}
    variants = [("binary", [str(dist / "appliance")], None), ("venv", [sys.executable, "-m", "appliance"], venv_env)]
    rows = []
    for name, command, env in variants:
        for run in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory() as tmp:
                home = Path(tmp) / "home"
                home.mkdir()
                env_run = {**(env or bare_env(home)), "HOME": str(home)}
                if name == "venv":
                    env_run["PYTHONPATH"] = str(REPO)
                rows.append((name, run, measure(command, env_run, Path(tmp))))
    size = folder_mb(dist, skip="models")
    print(f"\nbundle {dist}: {size:.0f} MB without models/, {folder_mb(dist):.0f} MB with the default model it ships")
    print(f"{'variant':<8} {'run':>3} {'healthz s':>10} {'models s':>9} {'1st reply s':>12} {'idle RSS MB':>12} {'peak RSS MB':>12} {'exit':>5}")
    for name, run, m in rows:
        print(f"{name:<8} {run:>3} {m['health_s']:>10.2f} {m['ready_s']:>9.2f} {m['reply_s']:>12.2f} {m['rss_mb']:>12.0f} {m['peak_mb']:>12.0f} {m['exit']:>5}")
    print_summary(rows)
    return 0


TARGETS = {"health_s": 2.0, "reply_s": 12.5, "rss_mb": 1024.0}  # from the issue: a benchmark, not a test


def print_summary(rows: list) -> None:
    """Medians per variant, the binary's ratio to the venv, and the issue's targets."""
    def median(name: str, key: str) -> float:
        return statistics.median(m[key] for variant, _, m in rows if variant == name)

    for key, target in TARGETS.items():
        binary, venv = median("binary", key), median("venv", key)
        verdict = "meets" if binary <= target else "misses"
        print(f"median {key:<9} binary {binary:8.2f}  venv {venv:8.2f}  ratio {binary / venv:5.2f}  "
              f"target {target:g} ({verdict})")


if __name__ == "__main__":
    sys.exit(main())
