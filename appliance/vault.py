"""Secrets at rest: AES-256-GCM with a key file created 0600 on first run."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.errors import AppError

KEY_FILE = "secret.key"


class VaultError(AppError):
    """The key file is missing, unreadable or does not match the stored secrets.

    One meaning everywhere: the appliance cannot use a secret until its owner restores the key file or reconnects
    the channel, so a 503 (a platform retries its webhook later) and, in the outbox, a retry with backoff."""

    status, code = 503, "secrets_unreadable"


class Vault:
    """Encrypts and decrypts small secrets (channel credentials, API keys) with one key."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise VaultError("The key file must hold exactly 32 bytes; restore it from your backup.")
        self._aead = AESGCM(key)
        self._key = key

    def derive(self, label: str) -> bytes:
        """A separate 32-byte key for another purpose (cookie signing), derived from the vault key."""
        return hmac.new(self._key, label.encode(), hashlib.sha256).digest()

    @classmethod
    def open(cls, data_dir: Path) -> "Vault":
        """Load the data folder's key file, creating it (mode 0600) on first run."""
        path = Path(data_dir) / KEY_FILE
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls(path.read_bytes())
        with os.fdopen(fd, "wb") as handle:
            handle.write(AESGCM.generate_key(bit_length=256))
            handle.flush()
            os.fsync(handle.fileno())
        return cls(path.read_bytes())

    def encrypt(self, value: dict | str, context: str) -> str:
        """Encrypt a JSON-able value; `context` binds the ciphertext to its owner (AAD)."""
        nonce = os.urandom(12)
        plain = json.dumps(value).encode()
        sealed = self._aead.encrypt(nonce, plain, context.encode())
        return base64.b64encode(nonce + sealed).decode()

    def seal_credentials(self, channel_id: str, credentials: dict) -> str:
        """A channel's credentials, encrypted and bound to that channel: a copy put on another channel does not open."""
        return self.encrypt(credentials, f"channel:{channel_id}")

    def open_credentials(self, channel_id: str, sealed: str) -> dict:
        """What seal_credentials sealed for this channel, or VaultError."""
        return self.decrypt(sealed, f"channel:{channel_id}")

    def decrypt(self, token: str, context: str):
        """Decrypt what `encrypt` produced for the same context."""
        try:
            raw = base64.b64decode(token)
            return json.loads(self._aead.decrypt(raw[:12], raw[12:], context.encode()))
        except Exception as exc:  # InvalidTag, binascii.Error, ValueError
            raise VaultError("A stored secret cannot be decrypted: the key file does not match this database; restore "
                             "the key file from your backup, or reconnect the channel.") from exc


def key_file_problem(data_dir: Path) -> str | None:
    """A sentence if the key file is missing or readable by others, else None."""
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        return f"The key file {path} is missing; stored credentials cannot be read without it."
    return _open_to_others(path, "The key file", "", "600")


def data_folder_problem(data_dir: Path) -> str | None:
    """A sentence if the data folder (credentials, conversations, the key) can be read or entered by others."""
    path = Path(data_dir)
    if not path.is_dir():
        return f"The data folder {path} does not exist."
    return _open_to_others(path, "The data folder", ", so other users can look inside", "700")


def _open_to_others(path: Path, what: str, consequence: str, private_mode: str) -> str | None:
    """A sentence naming the chmod to run when group or others have any permission on `path`, else None."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return f"{what} {path} has mode {mode:o}{consequence}; run `chmod {private_mode} {path}`."
    return None
