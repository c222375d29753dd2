import pytest

from core.plan import PlanError, parse_plan, validate
from core.repair import repair
from core.tasks import get_task_type, task_names


def plan(*tasks, files=()):
    return parse_plan({"tasks": list(tasks)}, set(files))


def test_catalogue_names_and_aliases():
    assert "sentence-similarity" in task_names()
    assert get_task_type("Sentence Similarity").name == "sentence-similarity"
    assert get_task_type("Automatic_Speech_Recognition").name == "automatic-speech-recognition"
    assert get_task_type("no-such-task") is None


def test_valid_chain_parses_generated_reference_and_infers_dependency():
    graph = plan({"id": 0, "task": "image-classification", "dep": [], "args": {"image": "cat.png"}},
                 {"id": 1, "task": "text-to-speech", "dep": [], "args": {"text": "<GENERATED>-0"}},
                 files=["cat.png"])
    validate(graph)
    assert graph.tasks[1].dep == [0]
    assert graph.tasks[1].args["text"].kind == "generated"
    assert graph.tasks[0].args["image"].kind == "file"


@pytest.mark.parametrize("tasks, message", [
    ([], "no tasks"),
    ([{"id": 0, "task": "teleport", "args": {}}], "unknown task type 'teleport'"),
    ([{"id": 0, "task": "text-to-speech", "args": {}}], "missing argument 'text'"),
    ([{"id": 0, "task": "text-to-speech", "args": {"text": "hi", "voice": "x"}}], "unexpected argument 'voice'"),
    ([{"id": 0, "task": "image-classification", "args": {"image": "a sunset"}}], "needs image"),
    ([{"id": 0, "task": "image-classification", "args": {"image": "song.wav"}}], "looks like audio"),
    ([{"id": 0, "task": "text-to-speech", "dep": [3], "args": {"text": "hi"}}], "does not exist"),
    ([{"id": 0, "task": "text-to-speech", "args": {"text": "hi"}},
      {"id": 0, "task": "text-to-speech", "args": {"text": "yo"}}], "used twice"),
    ([{"id": 0, "task": "image-classification", "args": {"image": "<GENERATED>-1"}},
      {"id": 1, "task": "text-to-image", "args": {"text": "<GENERATED>-0"}}], "comes later"),
    ([{"id": 0, "task": "text-to-speech", "args": {"text": "hi"}},
      {"id": 1, "task": "image-classification", "args": {"image": "<GENERATED>-0"}}], "makes audio"),
])
def test_invalid_plans_are_rejected_with_a_reason(tasks, message):
    with pytest.raises(PlanError, match=message):
        validate(plan(*tasks))


def test_malformed_json_shapes_are_plan_errors():
    for bad in ("text", {"tasks": "x"}, {"tasks": [1]}, {"tasks": [{"id": "a", "task": "x"}]},
                {"tasks": [{"id": 0}]}, {"tasks": [{"id": 0, "task": "fill-mask", "args": []}]}):
        with pytest.raises(PlanError):
            parse_plan(bad)


def test_self_dependency_is_a_cycle():
    graph = plan({"id": 0, "task": "summarization", "dep": [0], "args": {"text": "x"}})
    with pytest.raises(PlanError, match="itself"):
        validate(graph)


def test_repair_renumbers_and_rewires_to_the_producer_of_the_right_kind():
    graph = plan({"id": 1, "task": "image-to-text", "dep": [], "args": {"image": "cat.png"}},
                 {"id": 2, "task": "text-to-speech", "dep": [], "args": {"text": "hello"}},
                 {"id": 3, "task": "image-classification", "dep": [], "args": {"image": "<GENERATED>-2"}},
                 files=["cat.png"])
    notes = repair(graph, "request", ["cat.png"])
    validate(graph)
    assert [t.id for t in graph.tasks] == [0, 1, 2]
    assert graph.tasks[2].args["image"].kind == "file" and graph.tasks[2].args["image"].value == "cat.png"
    assert any("renumbered" in n for n in notes)


def test_repair_drops_a_repeated_task_and_keeps_references():
    graph = plan({"id": 0, "task": "image-to-text", "args": {"image": "a.png"}},
                 {"id": 1, "task": "image-to-text", "args": {"image": "a.png"}},
                 {"id": 2, "task": "text-to-speech", "args": {"text": "<GENERATED>-1"}}, files=["a.png"])
    repair(graph, "", ["a.png"])
    validate(graph)
    assert [t.type for t in graph.tasks] == ["image-to-text", "text-to-speech"]
    assert graph.tasks[1].args["text"].source == 0


def test_repair_leaves_ambiguous_plans_for_validation():
    graph = plan({"id": 0, "task": "image-classification", "args": {"image": "<GENERATED>-4"}})
    repair(graph, "", [])
    with pytest.raises(PlanError):
        validate(graph)


def test_repair_snaps_paraphrased_literals_to_the_quoted_words():
    request = "How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'? It's urgent."
    graph = plan({"id": 0, "task": "sentence-similarity",
                  "args": {"text": "The cat sits on the mat.", "text2": "A kitten rests on the rug."}})
    notes = repair(graph, request, [])
    assert graph.tasks[0].args["text"].value == "A cat sits on the mat."
    assert graph.tasks[0].args["text2"].value == "A kitten rests on the rug."
    assert len(notes) == 1


def test_repair_keeps_literals_that_differ_from_every_quote():
    graph = plan({"id": 0, "task": "translation", "args": {"text": "Good morning", "language": "German"}})
    repair(graph, "Translate 'Where is the station?' to German", [])
    assert graph.tasks[0].args["text"].value == "Good morning"
