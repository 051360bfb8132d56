"""One error base: every family carries its status and code, shown once by the web handler and once by the CLI.

VaultError is the worked example: a key file that does not open a channel's credentials is a 503 on the webhook
and on the API, a retry in the outbox, and a sentence with exit code 1 on the command line."""
import os
import subprocess
import sys

import pytest

from appliance.assistant.index import IndexError_
from appliance.assistant.llm import ModelError
from appliance.backup import BackupError
from appliance.channels.platform import PayloadError, SendError, SignatureError
from appliance.config import ConfigError
from appliance.errors import AppError
from appliance.jsonbody import JsonBodyError
from appliance.outbound import UnsafeUrl
from appliance.records import Channel, InboundEvent, Message
from appliance.vault import Vault, VaultError
from tests.conftest import MODELS_DIR, REPO, post_json
from tests.fakes import CREDENTIALS, connect, fake_whatsapp, sample, signed_headers  # noqa: F401  (fixture)


@pytest.mark.parametrize("error, status, code", [
    (VaultError("x"), 503, "secrets_unreadable"),
    (ModelError("x"), 503, "model_unavailable"),
    (IndexError_("x"), 503, "index_unavailable"),
    (ConfigError("x"), 500, "invalid_setting"),
    (BackupError("x"), 409, "backup_failed"),
    (SendError("x"), 502, "send_failed"),
    (PayloadError("x"), 400, "malformed_payload"),
    (SignatureError(missing=True), 401, "missing_signature"),
    (SignatureError(missing=False), 403, "invalid_signature"),
    (JsonBodyError("too_large", "x", 413), 413, "too_large"),
    (UnsafeUrl("x", "api_base"), 422, "invalid_api_base"),
])
def test_every_family_is_an_app_error_with_its_status_and_code(error, status, code):
    assert isinstance(error, AppError) and (error.status, error.code) == (status, code)


def seal_with_another_key(channel_id: str) -> None:
    """The channel's credentials as a different key file would have written them (a key restored from elsewhere)."""
    foreign = Vault(os.urandom(32)).seal_credentials(channel_id, CREDENTIALS["whatsapp"])
    Channel.update(credentials=foreign).where(Channel.id == channel_id).execute()


def test_a_webhook_whose_credentials_cannot_be_decrypted_is_a_503_and_nothing_is_stored(client, tenant, fake_whatsapp):
    channel_id = connect(client, tenant, fake_whatsapp)
    seal_with_another_key(channel_id)
    raw = sample("whatsapp", "text.json")
    response = client.post(f"/webhooks/whatsapp/{channel_id}", data=raw, headers=signed_headers("whatsapp", raw))
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "secrets_unreadable"
    assert "key file" in response.get_json()["error"]["message"]
    assert InboundEvent.select().count() == 0


def test_an_api_call_that_needs_undecryptable_credentials_is_a_503(client, tenant, fake_whatsapp):
    channel_id = connect(client, tenant, fake_whatsapp)
    seal_with_another_key(channel_id)
    response = client.patch(f"/api/v1/channels/{channel_id}", json={"credentials": {"access_token": "new"}},
                            headers=tenant.headers)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "secrets_unreadable"


def test_the_outbox_retries_a_reply_whose_credentials_cannot_be_decrypted(client, tenant, fake_whatsapp):
    channel_id = connect(client, tenant, fake_whatsapp)
    raw = sample("whatsapp", "text.json")
    assert client.post(f"/webhooks/whatsapp/{channel_id}", data=raw,
                       headers=signed_headers("whatsapp", raw)).status_code == 200
    conversation_id = Message.get(Message.direction == "in").conversation_id
    sends = len(fake_whatsapp.sends)
    seal_with_another_key(channel_id)
    response = post_json(client, f"/api/v1/conversations/{conversation_id}/messages", {"text": "Still there?"},
                         tenant.headers)
    assert response.status_code == 201
    row = Message.get_by_id(response.get_json()["id"])
    assert row.status == "pending" and row.error.startswith("secrets_unreadable:") and row.next_attempt_at
    assert len(fake_whatsapp.sends) == sends


def test_the_cli_ends_a_vault_error_with_a_sentence_and_exit_code_1(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "secret.key").write_bytes(b"too short")
    done = subprocess.run([sys.executable, "-m", "appliance", "--data", str(data), "tenant", "create", "Shop"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "APPLIANCE_MODELS": str(MODELS_DIR)})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == ("appliance: The key file must hold exactly 32 bytes; restore it "
                                                    "from your backup.")
    assert "Traceback" not in done.stderr
