"""A reverse proxy named in `trusted_proxy` tells the client's address; nobody else can."""
import threading

import pytest
import requests

from appliance.worker import server_options
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "data", widget_streams_per_address=2)


def serve(app, settings, proxy: str) -> tuple[str, object]:
    import waitress

    settings.update(trusted_proxy=proxy, host="127.0.0.1", port=0)
    server = waitress.create_server(app, **server_options(settings))
    threading.Thread(target=server.run, daemon=True).start()
    return f"http://127.0.0.1:{server.effective_port}", server


def stream_statuses(base: str, channel_id: str, forwarded_for: list[str]) -> list[int]:
    """Open one event stream per X-Forwarded-For value (kept open); their status codes."""
    opened, statuses = [], []
    for n, address in enumerate(forwarded_for):
        response = requests.get(f"{base}/widget/{channel_id}/events", params={"session": f"s{n}"}, stream=True,
                                headers={"X-Forwarded-For": address}, timeout=10)
        statuses.append(response.status_code)
        opened.append(response)
    for response in opened:
        response.close()
    return statuses


def test_a_trusted_proxy_names_each_client_so_limits_are_per_customer(app, settings, web_channel):
    base, server = serve(app, settings, "127.0.0.1")
    try:
        assert stream_statuses(base, web_channel.id, ["10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2"]) == [200, 200, 429, 200]
    finally:
        server.close()


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(app, settings, web_channel):
    base, server = serve(app, settings, "")
    try:
        assert stream_statuses(base, web_channel.id, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [200, 200, 429]
    finally:
        server.close()
