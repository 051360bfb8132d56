"""The command line: serve, tenant, token, user, chat, models, settings (CONTRACT.md). Heavy imports stay lazy."""
from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import re
import sys
from pathlib import Path

from appliance.config import SETTINGS, ConfigError, load_settings, store_setting

log = logging.getLogger(__name__)


# Telegram puts the bot token in the URL path (/bot<id>:<secret>/sendMessage), and urllib3 logs URLs at DEBUG
BOT_TOKEN = re.compile(r"bot(\d+):[A-Za-z0-9_-]+")
URL_LOGGERS = ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry")


class MaskBotTokens(logging.Filter):
    """Replaces the secret part of Telegram bot tokens in a log record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = BOT_TOKEN.sub(r"bot\1:***", message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def configure_logging() -> None:
    """Log format and level (`serve` applies log_level), with bot tokens masked even at DEBUG."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mask = MaskBotTokens()
    # on urllib3's loggers, before any handler sees the record; on the root handlers for everything else
    for where in [logging.getLogger(name) for name in URL_LOGGERS] + logging.getLogger().handlers:
        if not any(isinstance(f, MaskBotTokens) for f in where.filters):
            where.addFilter(mask)


def _settings(args):
    overrides = {k: getattr(args, k, None) for k in ("host", "port", "data")}
    return load_settings({k: v for k, v in overrides.items() if v is not None})


def _open(args):
    """Settings and opened data folder, for commands that touch the database."""
    from appliance.app import create_services

    settings = _settings(args)
    return settings, create_services(settings)


def cmd_serve(args) -> int:
    from appliance.worker import serve

    code = serve(_settings(args))
    # Everything is closed and logged by now: skip the interpreter's teardown (torch's and llama.cpp's finalisers
    # take seconds on a busy 2-core box), so a SIGTERM ends the process well inside a service manager's timeout.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cmd_tenant_create(args) -> int:
    from appliance.auth import create_tenant

    _open(args)
    tenant, token = create_tenant(args.name)
    if args.json:
        print(json.dumps({"tenant_id": tenant.id, "api_token": token}))
    else:
        print(f"Tenant {tenant.name!r} created with id {tenant.id}.\nAPI token (shown once, keep it safe): {token}")
    return 0


def cmd_token_create(args) -> int:
    """An API token for a role: agents and tenant admins of one tenant, or a platform admin (no tenant)."""
    from appliance.auth import create_api_token

    _open(args)
    token, tenant = create_api_token(args.role, args.tenant)
    if args.json:
        print(json.dumps({"api_token": token, "role": args.role, "tenant_id": tenant.id if tenant else None}))
    else:
        where = f" of tenant {tenant.id}" if tenant else ""
        print(f"API token for the {args.role} role{where} (shown once, keep it safe): {token}")
    return 0


def cmd_user_create(args) -> int:
    from appliance.auth import create_user
    from appliance.records import Tenant

    _open(args)
    tenant = Tenant.get_or_none(Tenant.id == args.tenant) if args.tenant else None
    if args.tenant and tenant is None:
        print(f"No tenant with id {args.tenant}; `appliance tenant create NAME` makes one.", file=sys.stderr)
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
    user = create_user(args.email, password, args.role, tenant)
    print(f"User {user.email} ({user.role}) created.")
    return 0


def cmd_chat(args) -> int:
    """Talk to a tenant's bot through the real pipeline (a terminal session of a web channel)."""
    import queue
    import secrets
    import threading

    from appliance.channels.web import parse_message
    from appliance.pipeline import handle_event, store_events
    from appliance.records import Channel, Tenant

    settings, services = _open(args)
    tenant = Tenant.get_or_none(Tenant.id == args.tenant)
    if tenant is None:
        print(f"No tenant with id {args.tenant}.", file=sys.stderr)
        return 2
    channel = (Channel.select().where((Channel.tenant == tenant) & (Channel.kind == "web") & (Channel.name == "terminal")
                                      & (Channel.deleted == False)).first()  # noqa: E712
               or Channel.create(tenant=tenant, kind="web", name="terminal"))
    session = "cli" + secrets.token_hex(6)
    box = services.streams.subscribe(channel.id, session)
    print(f"Chatting with {tenant.name}'s assistant. Empty line or Ctrl-D ends.", flush=True)
    for line in sys.stdin:
        text = line.strip()
        if not text:
            break
        body = json.dumps({"session": session, "text": text}).encode()
        ids = store_events(channel, [parse_message(body, settings.widget_max_chars)])
        worker = threading.Thread(target=lambda: [handle_event(services, i) for i in ids])
        worker.start()
        print("bot> ", end="", flush=True)
        streamed = False
        while True:
            try:
                event, data = box.get(timeout=0.2)
            except queue.Empty:
                if worker.is_alive():
                    continue
                print("(no reply: a person has this conversation now)")  # handed off, or the assistant is off
                break
            if event == "token":
                streamed = True
                print(data["text"], end="", flush=True)
            elif event == "message":
                print("" if streamed else data["text"], flush=True)  # a reply not written token by token
                break
        worker.join()
    return 0


def cmd_models_list(args) -> int:
    from appliance.assistant.llm import DEFAULT_MODEL, list_models

    settings = _settings(args)
    found = list_models(settings.models)
    names = [p.name for p in found]
    if DEFAULT_MODEL not in names:
        print(f"  {DEFAULT_MODEL}  (bundled; assembled on first use)" + ("  [default]" if settings.model == DEFAULT_MODEL else ""))
    for path in found:
        mark = "  [default]" if path.name == settings.model else ""
        print(f"  {path.name}  {path.stat().st_size / 1e6:.0f} MB{mark}")
    return 0


def cmd_models_use(args) -> int:
    from appliance.assistant.llm import DEFAULT_MODEL, list_models
    from appliance.config import store_setting

    settings = _settings(args)
    names = [p.name for p in list_models(settings.models)] + [DEFAULT_MODEL]
    if args.name not in names:
        print(f"No model {args.name} in {settings.models}; copy the .gguf file there first.", file=sys.stderr)
        return 2
    store_setting(settings.data, "model", args.name)
    print(f"Default model is now {args.name}; restart the appliance to load it.")
    return 0


def cmd_models_prepare(args) -> int:
    from appliance.assistant.llm import prepare_default_model

    print(prepare_default_model(_settings(args).models))
    return 0


def cmd_backup(args) -> int:
    from appliance.backup import backup

    print(f"Backup written to {backup(_settings(args).data, args.file)}.")
    return 0


def cmd_restore(args) -> int:
    from appliance.backup import restore

    print(f"Restored into {restore(args.file, _settings(args).data, force=args.force)}; start the appliance again.")
    return 0


def cmd_settings(args) -> int:
    """Print every setting, or store one in the data folder's settings.json after checking it (`--set NAME=VALUE`)."""
    if args.set:
        name, _, value = args.set.partition("=")
        settings = _settings(args)
        load_settings({"data": settings.data, name.strip(): value}, environ={})  # checked as at start-up
        store_setting(settings.data, name.strip(), value)
        print(f"{name.strip()} is now {value!r} (in {settings.data / 'settings.json'}); restart the appliance to use it.")
        return 0
    for s in SETTINGS:
        print(f"APPLIANCE_{s.name.upper():<22} default {s.default!s:<34} {s.help}")
    return 0


def cmd_init(args) -> int:
    """First-run set-up used by ./run.sh: a demo tenant with a web channel and an admin login."""
    import secrets

    from appliance.auth import create_tenant, create_user
    from appliance.records import Channel, Tenant, User

    settings, _ = _open(args)
    if Tenant.select().count() == 0:
        tenant, token = create_tenant("Demo shop")
        channel = Channel.create(tenant=tenant, kind="web", name="Demo shop chat")
        store_setting(settings.data, "demo_channel", channel.id)  # the demo page shows this channel and no other
        queued = queue_demo_documents(settings, tenant.id)
        password = secrets.token_urlsafe(12)
        create_user("admin@localhost", password, "platform-admin", None)
        notes = settings.data / "first-login.txt"
        notes.write_text(f"admin login: admin@localhost\npassword: {password}\ndemo tenant: {tenant.id}\n"
                         f"demo tenant API token: {token}\n", encoding="utf-8")
        notes.chmod(0o600)
        print(f"Created the demo tenant {tenant.id} with a web chat channel and {queued} demo shop documents "
              "(learnt when the appliance starts).")
    elif not settings.demo_channel:
        print("The demo page / is off: set the demo_channel setting to a web channel id to show that bubble there.")
    if (settings.data / "first-login.txt").exists():
        print(f"First admin login and demo API token: {settings.data / 'first-login.txt'} (delete it once noted).")
    elif not User.select().where(User.role == "platform-admin").count():
        print("No admin login yet: `appliance user create --email you@shop --role platform-admin` makes one.")
    return 0


DEMO_SHOP = Path(__file__).resolve().parent / "demo"  # made-up shop documents, shipped as package data


def queue_demo_documents(settings, tenant_id: str) -> int:
    """Store the demo shop's documents as queued uploads; `serve`'s worker learns them at start (no torch here)."""
    from appliance.assistant.ingest import store_upload

    paths = sorted(p for p in DEMO_SHOP.iterdir() if p.suffix in (".csv", ".md", ".txt"))
    for path in paths:
        store_upload(settings, tenant_id, path.name, path.read_bytes())
    return len(paths)


def cmd_ingest(args) -> int:
    """Add documents to a tenant's knowledge base here and now, with a progress bar per file."""
    from appliance.assistant import ingest
    from appliance.errors import AppError
    from appliance.records import Tenant

    settings, services = _open(args)
    if Tenant.get_or_none(Tenant.id == args.tenant) is None:
        print(f"No tenant with id {args.tenant}; `appliance tenant create NAME` makes one.", file=sys.stderr)
        return 2
    failed = 0
    for name in args.files:
        path = Path(name)
        try:
            if not path.is_file():
                raise AppError(404, "not_found", f"{path} is not a file.")
            ingest.check_size(path.name, path.stat().st_size, settings.upload_max_bytes)
            document, queued = ingest.store_upload(settings, args.tenant, path.name, path.read_bytes())
        except AppError as exc:
            print(f"{path.name}: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        if not queued:
            print(f"{path.name}: already in the knowledge base (document {document.id}, {document.status}).")
            continue
        bar = _ProgressBar(path.name)
        document = ingest.process(services, document.id, on_progress=bar.update)
        bar.close()
        if document is None or document.status != "ready":
            print(f"{path.name}: failed: {document.error if document else 'deleted meanwhile'}", file=sys.stderr)
            failed += 1
        else:
            print(f"{path.name}: ready, {document.chunks} chunks (document {document.id}).")
    return 1 if failed else 0


class _ProgressBar:
    """[#####.....] 50% on one terminal line (plain lines when not a terminal)."""

    def __init__(self, label: str, width: int = 30):
        self.label, self.width, self.shown = label[:40], width, -1
        self.tty = sys.stderr.isatty()

    def update(self, fraction: float) -> None:
        percent = int(max(0.0, min(1.0, fraction)) * 100)
        if percent == self.shown or (not self.tty and percent - self.shown < 25 and percent < 100):
            return
        self.shown = percent
        filled = self.width * percent // 100
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}%"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def cmd_doctor(args) -> int:
    """Check model, indexes, database, disk and key file; exit 1 when something needs fixing."""
    from appliance import doctor
    from appliance.db import database, open_database

    settings = _settings(args)
    settings.data.mkdir(parents=True, exist_ok=True)
    open_database(settings.data / "appliance.db")
    problems = 0
    for name, problem in doctor.run(settings, database, fix=args.fix):
        print(f"{'PROBLEM' if problem else 'ok':<8} {name}" + (f": {problem}" if problem else ""))
        problems += bool(problem)
    return 1 if problems else 0


def cmd_cloud_key(args) -> int:
    """Set or clear the platform's cloud API key (read from standard input, stored encrypted)."""
    from appliance.assistant.cloud import set_platform_key

    settings, services = _open(args)
    key = None if args.clear else sys.stdin.readline().strip()
    if not args.clear and not key:
        print("Give the API key on standard input, e.g. `appliance cloud-key < key.txt`.", file=sys.stderr)
        return 2
    set_platform_key(services.vault, key)
    print("Platform cloud key cleared." if args.clear else
          f"Platform cloud key stored (encrypted). Endpoint: {settings.cloud_base_url or 'not set: APPLIANCE_CLOUD_BASE_URL'}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description="Self-hosted chatbot and customer-messaging server.")
    parser.add_argument("--data", help="data folder (default ./data, or APPLIANCE_DATA)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="web server + background worker + local model in one process")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data", help="data folder", default=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(dest="action", required=True)
    create = tenant.add_parser("create", help="new tenant and its API token")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help='print {"tenant_id", "api_token"}')
    create.set_defaults(func=cmd_tenant_create)

    token = commands.add_parser("token", help="manage API tokens").add_subparsers(dest="action", required=True)
    tcreate = token.add_parser("create", help="new API token for a role (shown once)")
    tcreate.add_argument("--tenant", help="the tenant of an agent or tenant-admin token (none for platform-admin)")
    tcreate.add_argument("--role", required=True, choices=("agent", "tenant-admin", "platform-admin"))
    tcreate.add_argument("--json", action="store_true", help='print {"api_token", "role", "tenant_id"}')
    tcreate.set_defaults(func=cmd_token_create)

    user = commands.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    ucreate = user.add_parser("create", help="new user (password from prompt or --password-stdin)")
    ucreate.add_argument("--tenant")
    ucreate.add_argument("--email", required=True)
    ucreate.add_argument("--role", required=True, choices=("platform-admin", "tenant-admin", "agent"))
    ucreate.add_argument("--password-stdin", action="store_true")
    ucreate.set_defaults(func=cmd_user_create)

    chat = commands.add_parser("chat", help="talk to a tenant's bot in the terminal")
    chat.add_argument("--tenant", required=True)
    chat.set_defaults(func=cmd_chat)

    models = commands.add_parser("models", help="local GGUF models").add_subparsers(dest="action", required=True)
    models.add_parser("list", help="GGUF files in the models folder").set_defaults(func=cmd_models_list)
    use = models.add_parser("use", help="pick the default model")
    use.add_argument("name")
    use.set_defaults(func=cmd_models_use)
    models.add_parser("prepare", help="assemble the default model into the models folder").set_defaults(func=cmd_models_prepare)

    backup = commands.add_parser("backup", help="consistent snapshot of the data folder (works while serving)")
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    restore = commands.add_parser("restore", help="unpack a backup into the data folder (stop the appliance first)")
    restore.add_argument("file")
    restore.add_argument("--force", action="store_true", help="replace existing data (kept as <data>.before-restore)")
    restore.set_defaults(func=cmd_restore)

    ingest = commands.add_parser("ingest", help="add documents to a tenant's knowledge base, with a progress bar")
    ingest.add_argument("--tenant", required=True)
    ingest.add_argument("files", nargs="+", metavar="FILE", help=".txt, .md, .csv or .pdf files")
    ingest.set_defaults(func=cmd_ingest)

    doctor = commands.add_parser("doctor", help="check model, indexes, database, disk space and key file")
    doctor.add_argument("--fix", action="store_true", help="rebuild missing or corrupt knowledge indexes")
    doctor.set_defaults(func=cmd_doctor)

    cloud_key = commands.add_parser("cloud-key", help="set the platform cloud API key from standard input")
    cloud_key.add_argument("--clear", action="store_true", help="remove the stored key")
    cloud_key.set_defaults(func=cmd_cloud_key)

    settings = commands.add_parser("settings", help="every setting with its default and help; --set stores one")
    settings.add_argument("--set", metavar="NAME=VALUE", help="check and store a setting in the data folder "
                          "(e.g. product_name=\"Hoa Mai Bot\", accent_colour=#e11d48)")
    settings.set_defaults(func=cmd_settings)
    commands.add_parser("init", help="first-run demo tenant and admin login (used by run.sh)").set_defaults(func=cmd_init)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; configuration and input problems end with a sentence, not a traceback."""
    from appliance.backup import BackupError
    from appliance.errors import AppError

    args = build_parser().parse_args(argv)
    os.umask(0o077)  # everything the appliance writes (database, queue, uploads, indexes, backups) is the owner's only
    configure_logging()
    try:
        return args.func(args) or 0
    except ConfigError as exc:
        print(f"appliance: {exc}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"appliance: {exc.message}", file=sys.stderr)
        return 2
    except BackupError as exc:
        print(f"appliance: {exc}", file=sys.stderr)
        return 2
