"""`appliance backup` / `restore`: a consistent snapshot of the data folder, taken while serving."""
from __future__ import annotations

import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path

from appliance.errors import AppError

DATABASES = ("appliance.db", "queue.db")
SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".tmp", ".partial")


class BackupError(AppError):
    """The backup or restore cannot be done; the message says why."""

    status, code = 409, "backup_failed"


def backup(data_dir: Path, target: Path) -> Path:
    """Write a .tar.gz of the data folder; SQLite files are copied with the online backup API."""
    data_dir, target = Path(data_dir), Path(target)
    if not (data_dir / "appliance.db").exists():
        raise BackupError(f"{data_dir} holds no appliance database; pass the right --data folder.")
    with tempfile.TemporaryDirectory(dir=target.parent if target.parent.exists() else None) as tmp:
        stage = Path(tmp) / "data"
        stage.mkdir()
        for path in sorted(data_dir.rglob("*")):
            relative = path.relative_to(data_dir)
            if path.is_dir() or path.name.endswith(SKIP_SUFFIXES):
                continue
            (stage / relative).parent.mkdir(parents=True, exist_ok=True)
            if str(relative) in DATABASES:
                _copy_sqlite(path, stage / relative)
            else:
                shutil.copy2(path, stage / relative)
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(stage, arcname="data")
        partial.chmod(0o600)  # it holds the key file
        partial.replace(target)
    return target


def _copy_sqlite(source: Path, destination: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(destination)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def restore(archive_path: Path, data_dir: Path, force: bool = False) -> Path:
    """Unpack a backup into the data folder (refused over existing data unless `force`); stop the server first."""
    archive_path, data_dir = Path(archive_path), Path(data_dir)
    if (data_dir / "appliance.db").exists() and not force:
        raise BackupError(f"{data_dir} already holds data; stop the appliance and pass --force to replace it.")
    try:
        archive = tarfile.open(archive_path, "r:gz")
    except (OSError, tarfile.TarError):
        raise BackupError(f"{archive_path} is not an appliance backup (.tar.gz made by `appliance backup`).") from None
    with archive, tempfile.TemporaryDirectory() as tmp:
        members = archive.getmembers()
        if not any(m.name == "data/appliance.db" for m in members):
            raise BackupError(f"{archive_path} holds no appliance database; is it an appliance backup?")
        archive.extractall(tmp, filter="data")
        if data_dir.exists():
            old = data_dir.with_name(data_dir.name + ".before-restore")
            shutil.rmtree(old, ignore_errors=True)
            data_dir.rename(old)
        shutil.move(str(Path(tmp) / "data"), data_dir)
    return data_dir
