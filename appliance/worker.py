"""`appliance serve`: waitress + the huey consumer (threads) + the models, in one process."""
from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)


# An idle worker polls the queue file at most every 0.1 s: a webhook's reply must not wait half a second to start
# (the benchmark holds webhook-to-reply within 15 % of the bare model). Polling SQLite 10 times a second is cheap.
CONSUMER_OPTIONS = {"worker_type": "thread", "periodic": True, "initial_delay": 0.02, "backoff": 1.15,
                    "max_delay": 0.1, "check_worker_health": True}


def _limit_threads(settings) -> None:
    """Cap torch/OpenMP threads so the embedder and llama.cpp do not fight over 2 cores."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, str(settings.torch_threads))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def server_options(settings) -> dict:
    """waitress's options: address, threads, and the reverse proxy whose forwarded headers are believed (if any)."""
    options = {"host": settings.host, "port": settings.port, "threads": settings.http_threads, "channel_timeout": 30,
               "ident": "appliance", "clear_untrusted_proxy_headers": True,
               "connection_limit": settings.http_connections}
    if settings.trusted_proxy:  # waitress then sets REMOTE_ADDR and the scheme from the proxy's headers
        options.update(trusted_proxy=settings.trusted_proxy, trusted_proxy_count=1,
                       trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"})
    return options


def serve(settings) -> int:
    """Bind first, answer /healthz at once, load the models in the background; stop cleanly on SIGTERM/Ctrl-C."""
    import waitress

    from appliance import tasks
    from appliance.app import create_app, create_services
    from appliance.db import database

    _limit_threads(settings)
    logging.getLogger().setLevel(settings.log_level.upper())
    services = create_services(settings)
    tasks.use_queue_file(settings.data / "queue.db")
    app = create_app(settings, services)
    server = waitress.create_server(app, **server_options(settings))
    consumer = tasks.huey.create_consumer(workers=settings.worker_threads, **CONSUMER_OPTIONS)
    consumer.start()  # installs its signal handlers; ours below replace them

    def stop(signum, frame):
        # waitress catches this and waits up to 5 s for busy threads, so end the widget streams that hold
        # threads first (the main thread runs only the socket loop: it never holds the streams' lock)
        log.info("stopping")
        services.stopping.set()
        services.streams.close()
        services.admin_streams.close()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    requeue(services)
    if settings.load_models:
        services.models.load_in_background()
    else:
        services.models.status = "disabled"
    port = server.effective_port
    print(f"The appliance is serving on http://{settings.host}:{port}/ (admin: http://{settings.host}:{port}/admin/)",
          flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        services.streams.close()
        services.admin_streams.close()
        server.close()
        consumer.stop(graceful=True)  # each running task finishes its one event or send; the rest waits in the rows
        _log_left_over()
        services.models.close()  # now, not in the interpreter's slow (and crash-prone) finalisers
        database.close()
        log.info("stopped")
    return 0


def requeue(services) -> None:
    """At start-up, in this one place: what a stop or a crash left unfinished is queued again (inbound events to
    answer, replies to send, webhook calls to make, documents to index); each ledger row says where it stopped."""
    from datetime import timedelta

    from appliance import tasks
    from appliance.assistant.ingest import unfinished
    from appliance.automation import flows, hooks
    from appliance.outbox import requeue_pending
    from appliance.pipeline import requeue_unfinished

    requeue_unfinished(services)
    requeue_pending(services)
    flows.recover(services, grace=timedelta(0))  # no turn is in progress before the workers start
    flows.resume_due(services)
    hooks.requeue(services)
    for document_id in unfinished():
        tasks.ingest_document(document_id)


def _log_left_over() -> None:
    """Say what the next start will pick up (stopping never waits for a backlog)."""
    from appliance.records import InboundEvent

    left = InboundEvent.select().where(InboundEvent.status == "pending").count()
    if left:
        log.info("%d inbound events stay pending for the next start", left)
