"""The cloud fallback against a real OpenAI-compatible server on loopback (llama-cpp-python's server with the tiny
model), plus small scripted servers for the failures a real one will not produce on demand."""
from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from appliance.assistant import cloud
from appliance.assistant.answer import answer
from appliance.assistant.cloud import CloudEndpoint, CloudError
from appliance.assistant.prompts import DONT_KNOW
from appliance.records import PlatformSecret, Tenant, Usage
from tests.conftest import MODELS_DIR, OFF_TOPIC, configure, free_port, ingest_files, post_json, shop_files
from tests.fakes import Scripted

API_KEY = "sk-loopback-test-key-123"


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """`python -m llama_cpp.server` serving the default GGUF on a free loopback port, with an API key."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    log_file = open(log_path, "wb")  # a pipe would fill up with llama.cpp's chatter and block the server
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(MODELS_DIR / "gemma-3-270m-q4_k_m.gguf"),
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
               "--api_key", API_KEY, "--model_alias", "loopback-gemma"]
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            if requests.get(f"{base}/models", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("llama_cpp.server did not start within 90 s")
        time.sleep(0.3)
    yield base
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log_file.close()


def endpoint(base_url: str, key: str = API_KEY, **kwargs) -> CloudEndpoint:
    values = dict(model="loopback-gemma", connect_timeout=2, timeout=60, retries=0, max_tokens=16)
    values.update(kwargs)
    return CloudEndpoint(base_url, key, **values)


MESSAGES = [{"role": "system", "content": "You are the assistant of a garden shop."},
            {"role": "user", "content": "When do you open?"}]


def test_a_chat_completion_from_a_real_openai_compatible_server(llama_server):
    streamed = []
    generation = cloud.chat(endpoint(llama_server), MESSAGES, on_token=streamed.append)
    assert generation.provider == "cloud" and generation.model == "loopback-gemma"
    assert generation.prompt_tokens > 10 and 0 < generation.completion_tokens <= 16
    assert streamed == ([generation.text] if generation.text else [])


@pytest.mark.parametrize("base", ["{b}", "{b}/", "{b}/chat/completions"])
def test_base_urls_with_or_without_the_path_work(llama_server, base):
    assert endpoint(base.format(b=llama_server)).url == f"{llama_server}/chat/completions"
    assert endpoint(llama_server[: -len("/v1")]).url == f"{llama_server}/chat/completions"


def test_a_wrong_key_is_a_clear_error_that_never_shows_the_key(llama_server, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CloudError, match="refused the tenant's API key") as error:
        cloud.chat(endpoint(llama_server, key="sk-wrong-key-456"), MESSAGES)
    assert "sk-wrong-key-456" not in str(error.value) + caplog.text
    assert "sk-wrong-key-456" not in repr(endpoint(llama_server, key="sk-wrong-key-456"))


def test_the_tenants_key_is_encrypted_and_used_when_the_policy_says_always(client, services, tenant, llama_server):
    services.settings.update(cloud_max_tokens=16, outbound_allow_hosts="127.0.0.1")
    ingest_files(services, tenant.id, shop_files())
    response = client.put("/api/v1/assistant", json={
        "cloud": {"base_url": llama_server, "api_key": API_KEY, "model": "loopback-gemma"}, "cloud_policy": "always"},
        headers=tenant.headers)
    assert response.status_code == 200 and API_KEY not in response.get_data(as_text=True)
    stored = Tenant.get_by_id(tenant.id)
    assert API_KEY not in (stored.assistant_secret or "") + json.dumps(stored.assistant)
    response = post_json(client, "/api/v1/assistant/test", {"text": "What are your opening hours?"}, tenant.headers)
    body = response.get_json()
    assert response.status_code == 200 and body["model"] == "loopback-gemma"
    assert body["sources"][0]["document"] == "faq.md" and body["tokens"]["prompt"] > 50
    usage = Usage.get(Usage.tenant == tenant.id)
    assert (usage.provider, usage.model, usage.prompt_tokens) == ("cloud", "loopback-gemma", body["tokens"]["prompt"])


def test_a_local_failure_goes_to_the_cloud_when_the_policy_allows(services, tenant, llama_server):
    ingest_files(services, tenant.id, shop_files())
    _tenant_cloud(services, tenant.id, llama_server, local_model="missing-model.gguf", cloud_policy="on_failure")
    reply = answer(services, Tenant.get_by_id(tenant.id), [], "How much is the olive tree?")
    assert reply.model == "loopback-gemma" and reply.sources[0]["document"] == "products.csv"
    assert [u.provider for u in Usage.select().where(Usage.tenant == tenant.id)] == ["cloud"]


def test_nothing_relevant_with_the_cloud_fallback_asks_the_cloud(services, tenant, llama_server):
    ingest_files(services, tenant.id, shop_files())
    _tenant_cloud(services, tenant.id, llama_server, fallback="cloud")
    reply = answer(services, Tenant.get_by_id(tenant.id), [], OFF_TOPIC)
    assert reply.model == "loopback-gemma" and reply.sources == [] and reply.completion_tokens > 0


def test_the_platform_key_serves_tenants_without_their_own(services, tenant, llama_server):
    services.settings.update(cloud_base_url=llama_server, cloud_model="loopback-gemma", cloud_max_tokens=16)
    assert cloud.endpoint_for(services, Tenant.get_by_id(tenant.id), {}) is None
    cloud.set_platform_key(services.vault, API_KEY)
    assert API_KEY not in PlatformSecret.get().value
    configure(tenant.id, model="cloud", allow_free_form=True)
    reply = answer(services, Tenant.get_by_id(tenant.id), [], "Hello, who are you?")
    assert reply.model == "loopback-gemma" and reply.path == "cloud"
    assert cloud.endpoint_for(services, Tenant.get_by_id(tenant.id), {}).owner == "platform"
    cloud.set_platform_key(services.vault, None)
    assert cloud.platform_key(services.vault) is None


def test_the_cloud_being_down_is_a_clear_error_and_the_assistant_still_answers(services, tenant):
    down = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(CloudError, match="cannot be reached") as error:
        cloud.chat(endpoint(down, retries=2), MESSAGES, sleep=lambda s: None)
    assert "after 3 attempts" in str(error.value)
    ingest_files(services, tenant.id, shop_files())
    services.settings["cloud_retries"] = 0
    _tenant_cloud(services, tenant.id, down, fallback="cloud")
    reply = answer(services, Tenant.get_by_id(tenant.id), [], OFF_TOPIC)  # no context, cloud down: don't know
    assert reply.text == DONT_KNOW["en"] and reply.model == "fallback"
    _tenant_cloud(services, tenant.id, down, model="cloud", fallback="dont_know")
    reply = answer(services, Tenant.get_by_id(tenant.id), [], "How much is the olive tree?")  # cloud down: the extract
    assert reply.path == "extract" and "$89.00" in reply.text and reply.sources
    assert "cannot be reached" in reply.rejected


def _tenant_cloud(services, tenant_id: str, base_url: str, **assistant) -> None:
    services.settings.update(cloud_max_tokens=16, outbound_allow_hosts="127.0.0.1")
    tenant = configure(tenant_id, cloud={"base_url": base_url, "model": "loopback-gemma"}, **assistant)
    tenant.assistant_secret = services.vault.encrypt(API_KEY, f"assistant:{tenant.id}")
    tenant.save()


# --- failures on demand: small scripted servers -------------------------------------------

OK_BODY = {"model": "scripted", "choices": [{"message": {"role": "assistant", "content": "We open at 9."}}],
           "usage": {"prompt_tokens": 12, "completion_tokens": 5}}


@pytest.fixture
def scripted():
    servers = []

    def make(*script):
        servers.append(Scripted(script))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_429_and_5xx_are_retried_honouring_retry_after(scripted):
    server = scripted((429, {"Retry-After": "3"}, {"error": {"message": "slow down"}}), (503, {}, {}), (200, {}, OK_BODY))
    waits = []
    generation = cloud.chat(endpoint(server.base, retries=2), MESSAGES, sleep=waits.append)
    assert generation.text == "We open at 9." and (generation.prompt_tokens, generation.completion_tokens) == (12, 5)
    assert waits[0] == 3.0 and 0.5 <= waits[1] <= 1.0 and len(server.requests) == 3  # Retry-After, then backoff
    path, headers, body = server.requests[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == f"Bearer {API_KEY}"
    assert body["messages"] == MESSAGES and body["model"] == "loopback-gemma" and body["stream"] is False


@pytest.mark.parametrize("status, body, words", [
    (500, {"error": {"message": "overloaded"}}, "after 2 attempts: the cloud endpoint answered HTTP 500."),
    (404, {"error": "no such model"}, "check the base URL"),
    (400, {"error": {"message": "max_tokens too large"}}, "rejected the request with HTTP 400."),
    (200, b"<html>a login page</html>", "not in the OpenAI chat format"),
    (200, {"choices": []}, "not in the OpenAI chat format"),
])
def test_cloud_failures_are_clear_errors(scripted, status, body, words):
    server = scripted((status, {}, body))
    with pytest.raises(CloudError) as error:
        cloud.chat(endpoint(server.base, retries=1), MESSAGES, sleep=lambda s: None)
    assert words in str(error.value)
    assert "overloaded" not in str(error.value) and "too large" not in str(error.value)  # their words stay theirs


def test_a_silent_endpoint_times_out_and_is_retried():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def hold():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])  # read nothing, answer nothing
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        with pytest.raises(CloudError, match="did not answer within 0.3 s"):
            cloud.chat(endpoint(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", timeout=0.3, retries=1),
                       MESSAGES, sleep=lambda s: None)
        assert len(accepted) == 2
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()
