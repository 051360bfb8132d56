"""The command line, run as a real subprocess like a reseller would."""
import json
import os
import subprocess
import sys

from appliance.assistant.prompts import HANDOFF
from tests.conftest import MODELS_DIR, REPO


def run(data, *args, stdin=None, env=None):
    environ = {**os.environ, "APPLIANCE_MODELS": str(MODELS_DIR), "APPLIANCE_LLM_MAX_TOKENS": "16", **(env or {})}
    return subprocess.run([sys.executable, "-m", "appliance", "--data", str(data), *args], cwd=REPO, input=stdin,
                          capture_output=True, text=True, env=environ, timeout=300)


def test_tenant_create_json_and_user_create(tmp_path):
    done = run(tmp_path, "tenant", "create", "Pho 24", "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["tenant_id"].startswith("t_") and created["api_token"].startswith("apl_")
    user = run(tmp_path, "user", "create", "--tenant", created["tenant_id"], "--email", "Owner@Pho24.vn",
               "--role", "tenant-admin", "--password-stdin", stdin="correct horse battery\n")
    assert user.returncode == 0 and "owner@pho24.vn" in user.stdout
    again = run(tmp_path, "user", "create", "--tenant", created["tenant_id"], "--email", "owner@pho24.vn",
                "--role", "agent", "--password-stdin", stdin="another password\n")
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    weak = run(tmp_path, "user", "create", "--tenant", created["tenant_id"], "--email", "a@b.c", "--role", "agent",
               "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "8 characters" in weak.stderr


def test_wrong_setting_stops_with_a_sentence(tmp_path):
    done = run(tmp_path, "serve", env={"APPLIANCE_PORT": "port-eighty"})
    assert done.returncode == 2 and "APPLIANCE_PORT" in done.stderr and "Traceback" not in done.stderr


def test_models_list_and_use(tmp_path):
    listed = run(tmp_path, "models", "list")
    assert listed.returncode == 0 and "gemma-3-270m-q4_k_m.gguf" in listed.stdout and "[default]" in listed.stdout
    assert run(tmp_path, "models", "use", "missing.gguf").returncode == 2
    used = run(tmp_path, "models", "use", "gemma-3-270m-q4_k_m.gguf")
    assert used.returncode == 0 and json.loads((tmp_path / "settings.json").read_text())["model"] == "gemma-3-270m-q4_k_m.gguf"


def test_chat_goes_through_the_pipeline(tmp_path):
    tenant = json.loads(run(tmp_path, "tenant", "create", "Chat Shop", "--json").stdout)
    done = run(tmp_path, "chat", "--tenant", tenant["tenant_id"], stdin="Hello, are you open?\n\n")
    assert done.returncode == 0, done.stderr
    reply = done.stdout.split("bot> ", 1)[1].strip()
    assert reply
    import sqlite3

    db = sqlite3.connect(tmp_path / "appliance.db")
    rows = db.execute("select direction, text from message order by id").fetchall()
    assert rows[0] == ("in", "Hello, are you open?") and rows[1][0] == "out" and rows[1][1] == reply
    assert db.execute("select status from inboundevent").fetchone() == ("done",)


def test_chat_after_a_hand_off_says_a_person_has_the_conversation(tmp_path):
    tenant = json.loads(run(tmp_path, "tenant", "create", "Chat Shop", "--json").stdout)
    done = run(tmp_path, "chat", "--tenant", tenant["tenant_id"], stdin="I want to talk to a human\nhello\n\n")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split("bot> ")[1:]
    assert first.strip() == HANDOFF["en"] and second.strip() == "(no reply: a person has this conversation now)"


def test_init_creates_demo_tenant_once(tmp_path):
    first = run(tmp_path, "init")
    assert first.returncode == 0 and "demo tenant" in first.stdout
    login = (tmp_path / "first-login.txt").read_text()
    assert "admin@localhost" in login and oct((tmp_path / "first-login.txt").stat().st_mode)[-3:] == "600"
    second = run(tmp_path, "init")
    assert second.returncode == 0 and "Created" not in second.stdout


def test_backup_and_restore_roundtrip(tmp_path):
    data = tmp_path / "live"
    tenant = json.loads(run(data, "tenant", "create", "Backup Shop", "--json").stdout)
    archive = tmp_path / "snap.tar.gz"
    done = run(data, "backup", str(archive))
    assert done.returncode == 0 and archive.exists() and oct(archive.stat().st_mode)[-3:] == "600"
    restored = tmp_path / "restored"
    assert run(restored, "restore", str(archive)).returncode == 0
    assert (restored / "secret.key").read_bytes() == (data / "secret.key").read_bytes()
    import sqlite3

    names = sqlite3.connect(restored / "appliance.db").execute("select id from tenant").fetchall()
    assert names == [(tenant["tenant_id"],)]
    refused = run(restored, "restore", str(archive))
    assert refused.returncode == 2 and "--force" in refused.stderr
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    bad = run(tmp_path / "other", "restore", str(tmp_path / "junk.tar.gz"))
    assert bad.returncode == 2 and "not an appliance backup" in bad.stderr
