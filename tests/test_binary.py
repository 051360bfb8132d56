"""The PyInstaller binary: build it, serve from it under a bare environment, get one real reply, stop it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.conftest import REPO, free_port

# Set to an existing dist/appliance folder to skip the ~5 minute build while iterating locally.
REUSE_ENV = "APPLIANCE_TEST_BINARY_DIR"


def build_binary(out: Path) -> Path:
    """Run `pyinstaller build.spec` into `out` and return the bundle folder (dist/appliance)."""
    command = [sys.executable, "-m", "PyInstaller", str(REPO / "build.spec"), "--noconfirm",
               "--distpath", str(out / "dist"), "--workpath", str(out / "build")]
    log = out / "pyinstaller.log"
    with log.open("w") as handle:
        result = subprocess.run(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, timeout=1800)
    assert result.returncode == 0, f"pyinstaller failed; see {log}:\n{log.read_text()[-4000:]}"
    return out / "dist" / "appliance"


def bare_env(home: Path) -> dict:
    """What `env -i` plus a login would leave: no venv, no PYTHONPATH, no APPLIANCE_* settings."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def get_json(url: str, headers: dict | None = None, body: dict | None = None, timeout: float = 5) -> tuple[int, dict]:
    """One HTTP call (GET, or POST when there is a body) answering (status, JSON body)."""
    method = "GET" if body is None else "POST"
    response = requests.request(method, url, json=body, headers=headers, timeout=timeout)
    return response.status_code, response.json()


def add_document(base: str, headers: dict, name: str, text: str, timeout: float = 120) -> dict:
    """Upload one text document and wait until the binary has chunked, embedded and indexed it."""
    response = requests.post(f"{base}/api/v1/knowledge/documents", headers=headers, timeout=30,
                             files={"file": (name, text.encode(), "text/plain")})
    assert response.status_code in (200, 202), response.text
    url = f"{base}/api/v1/knowledge/documents/{response.json()['id']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, document = get_json(url, headers=headers)
        assert document["status"] != "failed", document
        if document["status"] == "ready":
            return document
        time.sleep(0.5)
    pytest.fail(f"document not ready within {timeout} s: {document}")


def wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout: float) -> dict:
    """Poll /healthz until the model is ready; fail early if the process dies or loading fails."""
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the binary exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
        try:
            _, body = get_json(base + "/healthz", timeout=2)
        except (OSError, ValueError):
            body = {}
        if body.get("model", {}).get("status") == "failed":
            pytest.fail(f"model loading failed: {body}\n{log.read_text()[-4000:]}")
        if body.get("status") == "ok" and body.get("model", {}).get("status") == "ready":
            return body
        time.sleep(0.5)
    pytest.fail(f"not ready within {timeout} s, last health {body}:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Iterator[Path]:
    """The onedir bundle: built fresh for this run unless APPLIANCE_TEST_BINARY_DIR names one."""
    reuse = os.environ.get(REUSE_ENV)
    if reuse:
        yield Path(reuse)
        return
    out = tmp_path_factory.mktemp("pyinstaller")
    yield build_binary(out)
    shutil.rmtree(out, ignore_errors=True)  # ~1.5 GB; pytest would otherwise keep three runs of it


@pytest.mark.slow
def test_binary_serves_a_real_reply_and_stops_cleanly(bundle, tmp_path):
    """Serve from the bundle under a bare environment, answer from its own models, exit 0 on SIGTERM."""
    binary = bundle / "appliance"
    assert binary.is_file() and not list((bundle / "_internal").rglob("*.gguf*")), "GGUFs stay out of the Python bundle"
    model = bundle / "models" / "gemma-3-270m-q4_k_m.gguf"
    assert model.is_file() and model.read_bytes()[:4] == b"GGUF", "the default model ships assembled, next to the binary"
    before = model.stat().st_mtime_ns
    data, env, port = tmp_path / "data", bare_env(tmp_path / "home"), free_port()
    (tmp_path / "home").mkdir()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(binary), "serve", "--port", str(port), "--data", str(data)], env=env,
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        health = wait_ready(f"http://127.0.0.1:{port}", proc, log, timeout=300)
        assert health["model"]["name"] == "gemma-3-270m-q4_k_m.gguf"
        created = subprocess.run([str(binary), "--data", str(data), "tenant", "create", "Binary Shop", "--json"],
                                 env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert created.returncode == 0, created.stderr
        token = json.loads(created.stdout.strip().splitlines()[-1])["api_token"]
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        # The embedder (torch) and hnswlib are the parts PyInstaller is most likely to miss: use them.
        add_document(base, auth, "hours.txt", "Opening hours\n\nWe open at 9am and close at 9pm every day.\n")
        status, found = get_json(f"{base}/api/v1/knowledge/search", body={"query": "opening hours", "k": 1}, headers=auth)
        assert status == 200 and "9am" in json.dumps(found), found
        # the answer is composed from the document; "always" has the bundled model reword it, so llama.cpp runs too
        assert requests.put(f"{base}/api/v1/assistant", json={"rewrite": "always"}, headers=auth,
                            timeout=10).status_code == 200
        status, reply = get_json(f"{base}/api/v1/assistant/test", body={"text": "When do you open?"}, headers=auth,
                                 timeout=120)
        assert status == 200, reply
        assert "9am" in reply["reply"] and reply["tokens"]["prompt"] > 0 and reply["tokens"]["completion"] > 0
        # the starter packs are JSON files read next to their module: build.spec must ship them
        status, listed = get_json(f"{base}/api/v1/automation/packs", headers=auth)
        assert status == 200 and [p["name"] for p in listed["packs"]] == ["restaurant", "shop", "spa"], listed
        status, installed = get_json(f"{base}/api/v1/automation/packs/spa", body={}, headers=auth)
        assert status == 201 and len(installed["rules"]) == 7 and len(installed["flows"]) == 2, installed
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = "no exit within 60 s"
    assert code == 0, f"exit {code}:\n{log.read_text()[-4000:]}"
    assert model.stat().st_mtime_ns == before, "serving reads the shipped model; nothing is assembled at start"
