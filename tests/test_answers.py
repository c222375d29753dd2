"""Grounded answers: the claim checker on hand-made sentences with known verdicts, the facts the
product writes, and the responder's gate with a scripted controller (the real one is in
tests/test_engine_real.py)."""

import pytest

from core.answering.claims import Support, new_words, unsupported
from core.answering.evaluation import evaluate_answers, failures_named, load_records
from core.answering.facts import failure_lines, fact_lines, title
from core.answering.responder import Responder
from core.executor import TaskResult
from tests.fakes import ScriptedController

REQUEST = "How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'?"
RECORD = ("sentence-similarity with sentence-transformers/all-MiniLM-L6-v2: similarity score 0.67 on a scale "
          "from -1 to 1: similar in meaning", '{"score": 0.6655}')
SUPPORT = Support.of(REQUEST, *RECORD, counts=1)
SIMILARITY_TEXT = "similarity score 0.67 on a scale from -1 to 1: similar in meaning"


@pytest.mark.parametrize("sentence, verdict", [
    ("The score is 0.67, so the sentences are similar in meaning.", []),
    ("The model gave 0.6655, about 67%.", []),
    ("The sentences scored 0.7.", []),  # rounded to a stated place
    ("It's similar; they don't differ much.", []),  # apostrophes are not quotes
    ("'A cat sits on the mat.' and 'A kitten rests on the rug.' are similar.", []),
    ("sentence-transformers/all-MiniLM-L6-v2 compared them.", []),
    ("The score is 0.67, which means only about a 1% difference.", ["1%"]),
    ("They match with an accuracy of 98.2%.", ["98.2%"]),
    ("The result was: 10.5 This is a very high number", ["10.5"]),
    ("The score is 1.", []),  # a whole number up to the task count is a count
    ("The score is 3.", ["3"]),
    ("The score rounds to 1 point.", []),
    ("'A cat sat on a mat' is similar.", ["'A cat sat on a mat'"]),
    ("openai/gpt-4 agrees.", ["openai/gpt-4"]),
    ("See similarity.png.", ["similarity.png"]),
    ("It is a 512x512 comparison.", ["512x512"]),
])
def test_the_checker_finds_exactly_the_claims_the_record_does_not_hold(sentence, verdict):
    assert unsupported(sentence, SUPPORT) == verdict


def test_new_words_are_those_neither_plain_nor_in_the_record():
    assert new_words("The sentences are similar in meaning.", SUPPORT) == []
    assert new_words("This shows the model's performance on the dataset is perfect.", SUPPORT) == \
        ["performance", "dataset", "perfect"]


def result(task_id, task, status="done", outputs=None, error="", model="m/x"):
    return TaskResult(task_id, task, model, status, outputs=outputs or {}, error=error)


class Entry:
    id, description, license, download_bytes = "acme/painter", "paints pictures", "mit", 2_300_000_000


def test_failures_come_first_in_words_with_what_to_install_and_skips_named_once():
    results = [result(0, "text-to-image", "failed", error="no installed model can do text-to-image; install one"),
               result(1, "image-to-text", "skipped", error="its input, task 0 (text-to-image), failed")]
    lines = failure_lines(results, lambda task: Entry())
    assert lines[0].startswith("Text-to-image (task 0) could not run: no installed model can do text-to-image.")
    assert "`main.py models download acme/painter`" in lines[0] and "2.3 GB, licence mit" in lines[0]
    assert lines[1] == "Image-to-text (task 1) was skipped: its input, task 0 (text-to-image), failed."
    assert "skipped: skipped" not in " ".join(lines).lower()
    assert fact_lines(results) == []


def test_facts_quote_the_runner_and_name_files_by_their_base_name():
    done = result(0, "text-to-image", outputs={"text": "a 512x512 image", "image": "/d/c/turn-1/text-to-image-0.png",
                                                "device": "cpu"})
    assert fact_lines([done]) == ["Text-to-image, by m/x: a 512x512 image; image text-to-image-0.png"]
    assert title("automatic-speech-recognition") == "Automatic speech recognition"


def answer_with(*drafts, results=None):
    controller = ScriptedController(*drafts)
    shown = []
    results = results or [result(0, "sentence-similarity", outputs={"text": SIMILARITY_TEXT, "score": 0.6655},
                                 model="sentence-transformers/all-MiniLM-L6-v2")]
    answer = Responder(controller).grounded(REQUEST, results, shown.append)
    assert "".join(shown) == answer.text  # what streamed is the answer
    return answer


def test_supported_prose_follows_the_facts():
    answer = answer_with("The two sentences are similar in meaning, with a score of 0.67.")
    facts, prose = answer.text.split("\n\n")
    assert facts.startswith("Sentence similarity, by sentence-transformers/all-MiniLM-L6-v2: similarity score 0.67")
    assert prose == "The two sentences are similar in meaning, with a score of 0.67."


def test_an_invented_number_is_retried_once_then_dropped():
    answer = answer_with("The score is 0.67, only about a 1% difference.", "They scored 98.2% alike.")
    assert answer.prose == "" and "%" not in answer.text
    assert answer.rejected == ["1%", "98.2%"] and len(answer.drafts) == 2


def test_the_retry_is_used_when_it_holds():
    answer = answer_with("An accuracy of 98.2%.", "The sentences are similar in meaning (0.67).")
    assert answer.prose == "The sentences are similar in meaning (0.67)."


def test_sentences_after_an_unsupported_one_are_dropped_and_empty_talk_is_no_answer():
    assert answer_with("They are similar in meaning. The score 0.99 shows it. More.").prose == \
        "They are similar in meaning."
    assert answer_with("I'm ready to help.", "What else can I do?").prose == ""


def test_nothing_is_asked_of_the_controller_when_nothing_ran():
    failed = [result(0, "text-to-image", "failed", error="no installed model can do text-to-image")]
    answer = answer_with(results=failed)
    assert answer.drafts == [] and answer.text.startswith("Text-to-image (task 0) could not run")


def test_failures_named_needs_every_missing_task_with_what_happened():
    results = [result(0, "text-to-image", "failed", error="x"), result(1, "image-to-text", "skipped", error="y")]
    assert failures_named("Text-to-image (task 0) failed: x.\nImage-to-text (task 1) was skipped: y.", results)
    assert not failures_named("Text-to-image (task 0) failed: x.", results)
    assert failures_named("anything", [result(0, "fill-mask")]) is None


def test_the_records_cover_every_kind_and_the_scripted_evaluation_scores_them():
    records = load_records()
    assert len(records) >= 40
    assert {r["kind"] for r in records} >= {"single", "chain", "rounding", "long", "empty", "failure", "partial"}
    report = evaluate_answers(Responder(EchoController()), records)
    summary = report.summary()
    assert summary["n"] == len(records) and summary["failures_reported"] == 1.0
    assert summary["unsupported_rate"] == 0.0 and summary["draft_unsupported_rate"] > 0.5


class EchoController:
    """Always claims a number no record holds: every draft is unsupported, no answer may keep it."""

    name = "echo"

    def chat(self, messages, **kwargs):
        from core.llm.controller import ChatResult

        return ChatResult("The models are 123.456% sure.", "stop")
