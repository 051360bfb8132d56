"""A tenant's own relevance threshold (`min_similarity` of its assistant): the API checks it, the answer path and
the knowledge search use it for that tenant only, a change misses the answer cache, the admin form edits it."""
from __future__ import annotations

import pytest

from appliance.assistant import prompts
from appliance.records import AnswerCache, Tenant
from tests.conftest import (  # noqa: F401  (owner: a fixture)
    ACCESSORY_FILES, accessory_text, ask, assert_error, field_error, form_post, owner, post_json, upload_text,
)
from tests.test_admin_console import ASSISTANT_FORM

OPENING_QUESTION = "Cửa hàng mở cửa lúc mấy giờ?"  # answered from the FAQ's opening hours, no product code in it
REPAIRS = ("# Repairs\nWe repair phone screens and batteries in one day at the shop counter.\n\n"
           "# Delivery\nOrders ship within two days by courier across Vietnam.\n")
BORDERLINE = "Do you repair phone screens quickly?"  # the passage does not say all it names: its similarity decides


def put(client, tenant, body):
    return client.put("/api/v1/assistant", json=body, headers=tenant.headers)


def stock(services, tenant_id: str) -> None:
    for name in ACCESSORY_FILES:
        upload_text(services, tenant_id, name, accessory_text(name))


def test_the_api_stores_returns_and_clears_a_tenants_threshold(client, tenant, other_tenant):
    assert client.get("/api/v1/assistant", headers=tenant.headers).get_json()["min_similarity"] is None
    response = put(client, tenant, {"min_similarity": 0.55})
    assert response.status_code == 200 and response.get_json()["min_similarity"] == 0.55
    assert client.get("/api/v1/assistant", headers=tenant.headers).get_json()["min_similarity"] == 0.55
    assert client.get("/api/v1/assistant", headers=other_tenant.headers).get_json()["min_similarity"] is None
    assert put(client, tenant, {"min_similarity": 1}).get_json()["min_similarity"] == 1.0
    assert put(client, tenant, {"min_similarity": None}).get_json()["min_similarity"] is None


@pytest.mark.parametrize("value", [-0.1, 1.01, 1e308, "0.5", True, [0.5], {"v": 1}])
def test_a_bad_threshold_is_refused_with_a_sentence_naming_it(client, tenant, value):
    response = put(client, tenant, {"min_similarity": value})
    assert_error(response, 422, "invalid_min_similarity")
    assert "'min_similarity'" in response.get_json()["error"]["message"]
    assert client.get("/api/v1/assistant", headers=tenant.headers).get_json()["min_similarity"] is None


def test_a_nan_threshold_is_refused_by_the_json_reader(client, tenant):
    response = client.put("/api/v1/assistant", data='{"min_similarity": NaN}', headers={
        **tenant.headers, "Content-Type": "application/json"})
    assert_error(response, 400, "invalid_number")  # NaN from the admin form: test_a_bad_threshold_in_the_form_...
    assert client.get("/api/v1/assistant", headers=tenant.headers).get_json()["min_similarity"] is None


def test_openapi_describes_the_threshold(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    body = spec["paths"]["/assistant"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["min_similarity"] == {"type": "number", "nullable": True, "minimum": 0, "maximum": 1}


def test_a_stricter_tenant_gets_its_fallback_while_the_other_still_answers(client, services, tenant, other_tenant):
    for shop in (tenant, other_tenant):
        upload_text(services, shop.id, "info.md", REPAIRS)
    before = ask(services, tenant.id, BORDERLINE)
    assert before.path == "extract"
    best = max(source["score"] for source in before.sources)
    # just above the passage's similarity: half of what the question names is not close enough for this tenant
    assert put(client, tenant, {"min_similarity": round(best + 0.01, 3)}).status_code == 200
    strict = ask(services, tenant.id, BORDERLINE)
    assert (strict.path, strict.text, strict.cached) == ("fallback", prompts.DONT_KNOW["en"], False)
    other = ask(services, other_tenant.id, BORDERLINE)
    assert (other.path, other.text) == ("extract", before.text)


def test_the_knowledge_search_reports_and_applies_the_tenants_threshold(client, services, tenant, other_tenant):
    stock(services, tenant.id)
    stock(services, other_tenant.id)
    assert put(client, tenant, {"min_similarity": 1.0}).status_code == 200
    strict = post_json(client, "/api/v1/knowledge/search", {"query": OPENING_QUESTION}, tenant.headers).get_json()
    other = post_json(client, "/api/v1/knowledge/search", {"query": OPENING_QUESTION}, other_tenant.headers).get_json()
    assert strict["min_similarity"] == 1.0 and other["min_similarity"] == services.settings.rag_min_similarity
    assert not any(hit["relevant"] for hit in strict["hits"])
    assert any(hit["relevant"] for hit in other["hits"])


def test_changing_the_threshold_misses_the_answer_cache(client, services, tenant):
    stock(services, tenant.id)
    first = ask(services, tenant.id, OPENING_QUESTION)
    assert not first.cached and ask(services, tenant.id, OPENING_QUESTION).cached
    assert put(client, tenant, {"min_similarity": 0.2}).status_code == 200
    changed = ask(services, tenant.id, OPENING_QUESTION)
    assert not changed.cached and changed.text == first.text
    assert AnswerCache.select().where(AnswerCache.tenant == tenant.id).count() == 2


def test_the_admin_form_saves_the_threshold_and_empty_means_the_default(client, services, tenant, owner):
    response = form_post(client, f"/admin/t/{tenant.id}/assistant", {**ASSISTANT_FORM, "min_similarity": "0,45"})
    assert response.status_code == 302 and Tenant.get_by_id(tenant.id).assistant["min_similarity"] == 0.45
    page = client.get(f"/admin/t/{tenant.id}/assistant").get_data(as_text=True)
    assert 'id="f-min_similarity" name="min_similarity" type="text" value="0.45"' in page
    assert "Relevance threshold" in page and f"default ({services.settings.rag_min_similarity:.2f})" in page
    assert form_post(client, f"/admin/t/{tenant.id}/assistant", ASSISTANT_FORM).status_code == 302
    assert Tenant.get_by_id(tenant.id).assistant["min_similarity"] is None


@pytest.mark.parametrize("typed, said", [("strict", "Give a number from 0 to 1"),
                                         ("1.5", "&#39;min_similarity&#39; must be a number from 0 to 1"),
                                         ("nan", "&#39;min_similarity&#39; must be a number from 0 to 1")])
def test_a_bad_threshold_in_the_form_is_shown_next_to_the_field(client, tenant, owner, typed, said):
    response = form_post(client, f"/admin/t/{tenant.id}/assistant", {**ASSISTANT_FORM, "min_similarity": typed})
    assert response.status_code == 422 and field_error(response.data, "min_similarity").startswith(said)
    assert f'value="{typed}"' in response.get_data(as_text=True)
    assert Tenant.get_by_id(tenant.id).assistant == {}
