"""The product request suite (tests/data/product_requests.json): requests as people type them,
planned by the product's planner, each checked for the task types its plan must hold.

With the real default controller (SmolLM2-135M through llama.cpp, MiniLM choosing demos,
reading the steps from the clauses and typing them) the suite must pass for at least SUITE_FLOOR of its requests; README, Planning
quality, gives the measured share and the 0.5B model's. Structural tests run the step filter on
the suite's own wordings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.planning.step_filter import grounded_steps, telling_sentences

DATA = Path(__file__).parent / "data"
SUITE = json.loads((DATA / "product_requests.json").read_text(encoding="utf-8"))["requests"]
# Written at stop 36 before the planner saw them: the default controller planned 25 of 30 on
# the first run, 26 after the attached file's task between (README, Planning quality).
HELD_OUT = json.loads((DATA / "product_requests_heldout.json").read_text(encoding="utf-8"))["requests"]
# Written and committed at stop 37 before the planner saw them: 23 of 31 on the first run.
HELD_OUT_2 = json.loads((DATA / "product_requests_heldout2.json").read_text(encoding="utf-8"))["requests"]
# Each held-out set with its floors, a request or two under what the default controller and the
# 0.5B plan (README, Planning quality): (cases, default's floor, another controller's floor).
HELD_OUT_SETS = {"held-out requests": (HELD_OUT, 0.8, 0.8), "second held-out requests": (HELD_OUT_2, 0.7, 0.6)}
# Measured, not wished: the default controller plans 46 of 47 right with steps read from the
# clauses (README, Planning quality, says which rules were written after which misses). The planning issue's goal is 90%; the floor leaves room for a near
# tie or two that another CPU's arithmetic decides the other way.
SUITE_FLOOR = 0.85


def holds(expected: list[str], planned: list[str]) -> bool:
    """Whether the planned types are exactly the expected ones, in any order, where an expected
    'a|b' accepts either."""
    if len(expected) != len(planned):
        return False
    if not expected:
        return True
    first, rest = expected[0].split("|"), expected[1:]
    for index, name in enumerate(planned):
        if name in first and holds(rest, planned[:index] + planned[index + 1:]):
            return True
    return False


def test_the_matcher_takes_alternatives_in_any_order():
    assert holds(["image-to-text|visual-question-answering", "text-to-speech"], ["text-to-speech", "image-to-text"])
    assert not holds(["image-to-text", "text-to-speech"], ["image-to-text"])
    assert not holds(["translation"], ["summarization"])


def test_the_suite_is_a_product_suite():
    assert len(SUITE) >= 40
    assert sum(1 for case in SUITE if case["files"]) >= 10  # attached files, beside files named in the text
    assert sum(1 for case in SUITE if len(case["types"]) > 1) >= 12  # chains
    assert sum(1 for case in SUITE if case.get("history")) >= 3  # follow-ups that refer back


@pytest.mark.parametrize("request_text,steps", [
    ("What is in this picture? Read the answer aloud.", ["what is in this picture", "read the answer aloud"]),
    ("Describe photo.jpg, translate the description to German, and read it aloud.",
     ["describe photo.jpg", "translate the description to German", "read it aloud"]),
    ("Write a short poem about autumn and read it aloud.", ["write a short poem about autumn", "read it aloud"]),
])
def test_an_imperative_read_aloud_is_a_step_not_narration(minilm_embed, request_text, steps):
    assert grounded_steps(steps, request_text, telling_sentences(minilm_embed, request_text)) == steps


def test_the_users_own_story_is_not_a_step(minilm_embed):
    request = "I snapped a photo of a traffic scene, example.jpg. How many cars are in it?"
    telling = telling_sentences(minilm_embed, request)
    assert grounded_steps(["snap a photo of a traffic scene", "count the cars in example.jpg"], request, telling) == [
        "count the cars in example.jpg"]


def plan_suite(planner, cases: list[dict]) -> list[tuple[dict, list[str], str]]:
    results = []
    for case in cases:
        try:
            graph = planner.plan(case["request"], case["files"], case.get("history")).graph
            results.append((case, [task.type for task in graph.tasks], ""))
        except (ValueError, RuntimeError) as error:  # a request it could not plan fails its case
            results.append((case, [], str(error)))
    return results


@pytest.fixture(scope="module")
def other_controller():
    """The controller named by JARVIS_SUITE_CONTROLLER, loaded once for the tests that use it."""
    from core.llm.controller import LlamaController, LlamaSettings

    path = os.environ.get("JARVIS_SUITE_CONTROLLER")
    if not path:
        pytest.skip("set JARVIS_SUITE_CONTROLLER=PATH.gguf")
    return LlamaController(LlamaSettings(path=Path(path), n_ctx=4096))


def test_another_controller_plans_the_whole_product_suite(other_controller, capsys):
    """The suite with a bigger controller (README: the 0.5B model plans all 47; the planning
    issue's goal is all of it)."""
    planned = report_suite(other_controller, capsys)
    assert planned >= 0.8 * len(SUITE)


@pytest.mark.parametrize("label", list(HELD_OUT_SETS))
def test_another_controller_plans_the_held_out_requests(other_controller, capsys, label):
    """The held-out requests with a bigger controller (README: the 0.5B model, 24 then 25 of 30;
    21 of 31 of the second set)."""
    cases, _, floor = HELD_OUT_SETS[label]
    assert report_suite(other_controller, capsys, cases, label) >= floor * len(cases)


def test_the_default_controller_plans_the_product_suite(real_controller, capsys):
    assert report_suite(real_controller, capsys) >= SUITE_FLOOR * len(SUITE)


@pytest.mark.parametrize("label", list(HELD_OUT_SETS))
def test_the_default_controller_plans_the_held_out_requests(real_controller, capsys, label):
    cases, floor, _ = HELD_OUT_SETS[label]
    assert report_suite(real_controller, capsys, cases, label) >= floor * len(cases)


def report_suite(controller, capsys, cases: list[dict] = SUITE, label: str = "product suite") -> int:
    """How many of `cases` the app's planner with `controller` plans right; the failures are
    printed."""
    from app.settings import Settings
    from app.wiring import planner_for

    planner = planner_for(Settings())(controller)
    results = plan_suite(planner, cases)
    failed = [(case["request"], planned, error) for case, planned, error in results
              if not holds(case["types"], planned)]
    with capsys.disabled():
        print(f"\n{label}, {controller.name} (steps {planner.steps}): "
              f"{len(cases) - len(failed)} of {len(cases)}")
        for request, planned, error in failed:
            print(f"  FAILED {request!r}: {planned or error}")
    return len(cases) - len(failed)
