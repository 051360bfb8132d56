"""answer_eval.py: its checks of a reply, and floors on the repo's labelled shop (tests/data/shop/eval.json).

Floors marked COMPOSITION depend on issue 9's answer composition (replies built from the sources, `path` on each
reply, fallback when no source, faithfulness check); they fail with the tiny model answering free-form."""
import json
import sys

import pytest

from tests.conftest import REPO, run_benchmark

sys.path.insert(0, str(REPO / "tests" / "benchmarks"))
import answer_eval  # noqa: E402

SOURCE = "price_vnd: 690000. Call 0901 234 567 or 555-0147. Open 8:00 to 21:30. Monstera 34.00 dollars. 1.290.000đ"


@pytest.fixture(scope="module")
def result():
    """One quick run of the script on the repo's set: its RESULT line."""
    out = run_benchmark("answer_eval.py")
    print(out)
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[len("RESULT "):])


@pytest.mark.parametrize("reply,fact", [
    ("It costs 690.000đ.", "690.000"), ("It is 690,000 VND", "690.000"), ("Giá: 690000 đồng", "690.000"),
    ("Only $34.00", "34"), ("34 dollars", "34"), ("đổi trong 7 ngày", ["7 days", "7 ngày"]),
    ("Doi trong 7 NGAY", ["7 ngày"]), ("Within 7 days.", ["7 days", "7 ngày"]), ("Call 0901234567", ["0901 234 567", "0901234567"]),
])
def test_a_fact_is_stated_in_any_number_format_and_any_alternative(reply, fact):
    assert answer_eval.states(reply, fact)


@pytest.mark.parametrize("reply,fact", [
    ("It costs 69.000đ.", "690.000"), ("It costs 690 VND", "690.000"), ("Within 14 days.", ["7 days", "7 ngày"]),
    ("Sorry, I don't know.", "34"),
])
def test_a_wrong_or_missing_fact_is_not_stated(reply, fact):
    assert not answer_eval.states(reply, fact)


@pytest.mark.parametrize("reply,invented", [
    ("It costs 690.000đ", []), ("It costs 690,000 VND", []), ("Call 0901234567 or 0901 234 567", []),
    ("Call 555-0147", []), ("Open 8:00 to 21:30", []), ("$34", []), ("1,290,000 VND", []),
    ("It costs 69.000đ", ["69.000"]), ("It costs 3,450,000 VND", ["3,450,000"]), ("Open 9:30", ["9"]),
])
def test_numbers_in_no_source_are_found_in_any_format(reply, invented):
    assert answer_eval.invented_numbers(reply, answer_eval.known_values([SOURCE])) == invented


def test_a_set_with_a_question_labelled_with_a_missing_document_is_refused(tmp_path):
    (tmp_path / "faq.md").write_text("## Hours\nOpen 9 to 5.\n", encoding="utf-8")
    (tmp_path / "eval.json").write_text(json.dumps({"questions": [
        {"question": "Hours?", "document": "faq.md", "facts": ["9"]},
        {"question": "Price?", "document": "products.csv", "facts": ["5"]}]}), encoding="utf-8")
    with pytest.raises(SystemExit, match="products.csv"):
        answer_eval.load_set(tmp_path)
    (tmp_path / "eval.json").write_text(json.dumps({"questions": [{"question": "Hours?", "document": "faq.md"}]}))
    documents, questions = answer_eval.load_set(tmp_path)
    assert [d.name for d in documents] == ["faq.md"] and len(questions) == 1


def test_the_repo_set_labels_every_question_with_facts_or_an_expected_fallback():
    for folder in ("shop", "demo"):
        documents, questions = answer_eval.load_set(REPO / "tests" / "data" / folder)
        assert {q.get("language") for q in questions} == {"en", "vi"}
        assert sum(answer_eval.expected_path(q) == "fallback" for q in questions) >= 5
        assert all(q["facts"] for q in questions if q["document"]), folder


def test_retrieval_finds_the_labelled_document_in_the_top_3(result):
    """English questions about the English documents hit; Vietnamese ones about them are the known weak spot
    (MiniLM is an English embedder and no word is shared), so the overall floor is lower than the 0.95 target."""
    for mode, hit in result["hit_at_3"].items():  # vector, and hybrid once the `retrieval` setting exists
        assert result["hit_at_3_by_language"][mode]["en"] >= 0.9, (mode, result)
        assert hit >= 0.8, (mode, result)


def test_no_answer_holds_a_number_found_in_no_source(result):
    """COMPOSITION: the faithfulness check keeps invented numbers out."""
    assert result["invented_numbers"] == 0, result


def test_unanswerable_questions_get_the_fallback(result):
    """COMPOSITION: every question with no source above the threshold gets the tenant's fallback."""
    assert result["fallbacks"] >= 0.9 * result["unanswerable"], result


def test_answers_state_the_labelled_facts(result):
    """COMPOSITION: answers are composed from the sources (on the extract, model or cloud path)."""
    assert result["facts_stated"] >= 0.9 * result["answerable"], result
