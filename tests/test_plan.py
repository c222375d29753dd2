import pytest

from core.plan import PlanError, parse_plan, validate
from core.planning.repair import repair
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


def test_repair_makes_dependencies_the_data_flow():
    graph = plan({"id": 0, "task": "image-to-text", "dep": [], "args": {"image": "a.png"}},
                 {"id": 1, "task": "translation", "dep": [0], "args": {"text": "<GENERATED>-0", "language": "de"}},
                 {"id": 2, "task": "text-to-speech", "dep": [0, 1], "args": {"text": "<GENERATED>-1"}},
                 {"id": 3, "task": "text-to-image", "dep": [1, 2], "args": {"text": "a harbour"}}, files=["a.png"])
    notes = repair(graph, "", ["a.png"])
    validate(graph)
    # a used output is the dependency; explicit ones are kept only where no output is used, and
    # only those whose output the task could take (text from the translation, not the speech)
    assert [t.dep for t in graph.tasks] == [[], [0], [1], [1]]
    assert "task 2: dependencies [0, 1] -> [1]" in notes
    assert "task 3: dependencies [1, 2] -> [1]" in notes


def test_repair_drops_a_repeated_task_and_keeps_references():
    graph = plan({"id": 0, "task": "image-to-text", "args": {"image": "a.png"}},
                 {"id": 1, "task": "image-to-text", "args": {"image": "a.png"}},
                 {"id": 2, "task": "text-to-speech", "args": {"text": "<GENERATED>-1"}}, files=["a.png"])
    repair(graph, "", ["a.png"])
    validate(graph)
    assert [t.type for t in graph.tasks] == ["image-to-text", "text-to-speech"]
    assert graph.tasks[1].args["text"].source == 0


def test_repair_drops_a_task_that_reruns_its_own_type_on_its_own_output():
    graph = plan({"id": 0, "task": "object-detection", "args": {"image": "a.png"}},
                 {"id": 1, "task": "object-detection", "dep": [0], "args": {"image": "<GENERATED>-0"}},
                 {"id": 2, "task": "object-detection", "dep": [1], "args": {"image": "<GENERATED>-1"}},
                 {"id": 3, "task": "image-to-text", "dep": [2], "args": {"image": "<GENERATED>-2"}},
                 {"id": 4, "task": "summarization", "dep": [3], "args": {"text": "<GENERATED>-3"}},
                 {"id": 5, "task": "summarization", "dep": [4], "args": {"text": "<GENERATED>-4"}},
                 {"id": 6, "task": "image-editing", "dep": [0], "args": {"image": "<GENERATED>-0", "text": "sepia"}},
                 {"id": 7, "task": "image-editing", "dep": [6], "args": {"image": "<GENERATED>-6", "text": "crop"}},
                 files=["a.png"])
    notes = repair(graph, "", ["a.png"])
    validate(graph)
    # detection of the boxed picture goes; a summary of a summary and a second edit are asked-for work
    assert [t.type for t in graph.tasks] == ["object-detection", "image-to-text", "summarization",
                                             "summarization", "image-editing", "image-editing"]
    assert graph.tasks[1].args["image"].source == 0 and graph.tasks[1].dep == [0]
    assert graph.tasks[4].args["image"].source == 0 and graph.tasks[5].args["image"].source == 4
    assert "dropped task 1: it runs task 0's object-detection on its own output" in notes


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


# -- planner: schema, decoding again from the first task that cannot run, demos ------------------

import json  # noqa: E402

from core.planning.planner import Planner, plan_schema  # noqa: E402
from core.planning.prompting import DemoPicker, demo_pool, demo_types, intent, pick_demos  # noqa: E402
from core.tasks import TASK_TYPES  # noqa: E402
from tests.fakes import ScriptedController  # noqa: E402


class SchemaRecorder(ScriptedController):
    def __init__(self, *replies):
        super().__init__(*replies)
        self.schemas = []

    def chat(self, messages, *, schema=None, **kwargs):
        answered = len(self.calls)
        result = super().chat(messages, schema=schema, **kwargs)
        if len(self.calls) > answered:  # declined step listings are not recorded
            self.schemas.append(schema)
        return result


def branches(schema, k):
    return {b["properties"]["task"]["const"]: b for b in schema["$defs"][f"task{k}"]["anyOf"]}


def test_schema_lets_task_k_refer_only_to_earlier_tasks():
    schema = plan_schema(["cat.png"])
    first, third = branches(schema, 0), branches(schema, 2)
    assert first["image-classification"]["properties"]["args"]["properties"]["image"] == {"enum": ["cat.png"]}
    assert first["text-to-speech"]["properties"]["dep"] == {"const": []}
    assert third["image-classification"]["properties"]["id"] == {"const": 2}
    assert third["image-classification"]["properties"]["args"]["properties"]["image"]["enum"] == \
        ["cat.png", "<GENERATED>-0", "<GENERATED>-1"]
    assert third["summarization"]["properties"]["dep"]["items"] == {"enum": [0, 1]}
    text = third["summarization"]["properties"]["args"]["properties"]["text"]["anyOf"]
    assert text[0] == {"enum": ["<GENERATED>-0", "<GENERATED>-1"]} and text[1]["pattern"].startswith("^[^<")
    assert len(schema["properties"]["tasks"]["anyOf"]) == 6  # plans of 1 to 6 tasks


def test_schema_leaves_out_types_that_cannot_start_without_their_file():
    first = branches(plan_schema([]), 0)
    assert "text-to-image" in first and "image-classification" not in first and "audio-classification" not in first
    assert "image-classification" in branches(plan_schema([]), 1)  # fed by task 0
    assert "image-to-image" not in first and "image-to-image" in branches(plan_schema(["x.jpg"]), 0)
    with pytest.raises(PlanError, match="attach one"):
        plan_schema([], tuple(t for t in TASK_TYPES if t.name == "image-classification"))


def test_schema_after_fixed_tasks_offers_only_inputs_that_fit():
    fixed = [{"id": 0, "task": "text-to-image", "dep": [], "args": {"text": "a boat"}}]
    schema = plan_schema([], fixed=fixed)
    assert schema["$defs"]["task0"] == {"const": fixed[0]}
    second = branches(schema, 1)
    assert "automatic-speech-recognition" not in second  # nothing makes audio
    assert second["image-to-text"]["properties"]["args"]["properties"]["image"] == {"enum": ["<GENERATED>-0"]}
    assert second["summarization"]["properties"]["args"]["properties"]["text"]["pattern"]  # no text producer
    assert "anyOf" not in second["summarization"]["properties"]["args"]["properties"]["text"]
    assert "automatic-speech-recognition" in branches(schema, 2)  # beyond the next task: not yet known


def test_schema_compiles_to_a_grammar():
    from llama_cpp import LlamaGrammar

    fixed = [{"id": 0, "task": "translation", "dep": [], "args": {"text": "Grüß Gott", "language": "English"}}]
    for schema in (plan_schema(["a.png", "b.wav"]), plan_schema([], fixed=fixed)):
        assert LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


def test_planner_decodes_again_from_the_first_task_that_cannot_run():
    wrong = {"tasks": [{"id": 0, "task": "text-to-image", "dep": [], "args": {"text": "a boat"}},
                       {"id": 1, "task": "automatic-speech-recognition", "dep": [0], "args": {"audio": "<GENERATED>-0"}}]}
    right = {"tasks": [wrong["tasks"][0], {"id": 1, "task": "image-to-text", "dep": [0], "args": {"image": "<GENERATED>-0"}}]}
    controller = SchemaRecorder(wrong, right)
    outcome = Planner(controller).plan("Draw a boat and describe it", [])
    assert [t.type for t in outcome.graph.tasks] == ["text-to-image", "image-to-text"]
    assert outcome.attempts == 2 and "task 1 planned again" in outcome.repairs[0]
    assert controller.schemas[1]["$defs"]["task0"] == {"const": wrong["tasks"][0]}
    assert "automatic-speech-recognition" not in branches(controller.schemas[1], 1)
    assert len(controller.calls[1]) == len(controller.calls[0])  # same prompt: no error message needed


def test_the_planner_offers_controlnet_and_leaves_out_task_types_that_cannot_run():
    from core.tasks import PLANNABLE_TASK_TYPES, UNAVAILABLE

    assert "tabular-classification" in UNAVAILABLE and TASK_TYPES[0] in PLANNABLE_TASK_TYPES
    reply = {"tasks": [{"id": 0, "task": "canny-control", "dep": [], "args": {"image": "room.jpg"}},
                       {"id": 1, "task": "canny-text-to-image", "dep": [0],
                        "args": {"text": "a cat on a sofa", "image": "<GENERATED>-0"}}]}
    controller = SchemaRecorder(reply)
    outcome = Planner(controller).plan("Draw a cat on a sofa with the outlines of room.jpg", [])
    assert [t.type for t in outcome.graph.tasks] == ["canny-control", "canny-text-to-image"]
    system = controller.calls[0][0]["content"]
    assert "- canny-control(image): " in system and "- canny-text-to-image(text, image): " in system
    assert "tabular-classification" not in json.dumps(controller.calls[0])  # neither offered nor in a demo
    first, second = branches(controller.schemas[0], 0), branches(controller.schemas[0], 1)
    assert {"canny-control", "depth-control", "seg-control", "canny-text-to-image"} <= set(first)
    assert "tabular-classification" not in first
    assert second["canny-text-to-image"]["properties"]["args"]["properties"]["image"] == {
        "enum": ["room.jpg", "<GENERATED>-0"]}  # the photo, or the map task 0 makes


def test_planner_sends_a_reply_that_is_no_plan_back_with_the_error_and_gives_up():
    controller = SchemaRecorder("not json", "still not json")
    with pytest.raises(PlanError, match="could not make a valid plan"):
        Planner(controller).plan("Say hello", [])
    assert len(controller.calls) == 2
    assert "cannot run" in controller.calls[1][-1]["content"]


def test_planner_uses_only_demos_of_its_task_types():
    types = tuple(t for t in TASK_TYPES if t.name in ("translation", "summarization", "text-to-speech"))
    planner = Planner(ScriptedController(), n_demos=4, task_types=types)
    messages = planner.messages("Translate 'hello' into German and read it aloud", [], [])
    demos = [json.loads(m["content"]) for m in messages if m["role"] == "assistant"]
    assert len(demos) == 4
    assert all(task["task"] in {t.name for t in types} for demo in demos for task in demo["tasks"])
    assert "image-classification" not in messages[0]["content"] and "- translation(text, language)" in messages[0]["content"]


def keyword_embedder(calls):
    """A stand-in for MiniLM: one dimension per keyword, normalised."""
    words = ["audio", "image", "translate", "similar", "poem", "speech", "video"]

    def embed(texts):
        calls.append(list(texts))
        vectors = []
        for text in texts:
            v = [float(w in text.lower()) for w in words] + [0.01]
            norm = sum(x * x for x in v) ** 0.5
            vectors.append([x / norm for x in v])
        return vectors
    return embed


def test_demo_picker_takes_the_nearest_by_embedding_best_last_and_embeds_the_pool_once():
    calls = []
    embed = keyword_embedder(calls)
    picker = DemoPicker(embed)
    chosen = picker.pick("please translate this sentence", 3)
    assert len(chosen) == 3 and "translate" in chosen[-1]["request"].lower()
    picker.pick("a poem please", 2)
    DemoPicker(embed).pick("similar?", 1)  # another planner with the same embedder
    assert [len(c) for c in calls] == [len(demo_pool()), 1, 1, 1]


def test_demo_picker_falls_back_to_word_overlap_when_the_embedder_fails(caplog):
    def broken(texts):
        raise OSError("model files missing")

    picker = DemoPicker(broken)
    request = "Transcribe meeting.wav and summarize what was said."
    assert picker.pick(request, 2) == pick_demos(request, 2)
    assert picker.embed is None and "word overlap" in caplog.text


def test_file_names_and_quoted_topics_do_not_decide_which_demos_are_near():
    assert intent("Caption 'example.jpg' and transcribe memo.wav.") == "Caption the image and transcribe the audio."
    assert intent("How similar are 'A cat sits.' and \"A dog runs.\"?") == 'How similar are "..." and "..."?'


def test_demo_pool_is_valid_covers_every_type_and_names_only_files_of_its_request():
    from core.planning.planner import mentioned_files

    covered = set()
    for demo in demo_pool():
        files = mentioned_files(demo["request"])
        graph = parse_plan({"tasks": demo["tasks"]}, set(files))
        validate(graph)
        assert [t.id for t in graph.tasks] == list(range(len(graph.tasks)))
        assert all(a.value in files for t in graph.tasks for a in t.args.values() if a.kind == "file"), demo
        covered |= demo_types(demo)
    assert covered == set(task_names())
    requests = [d["request"] for d in demo_pool()]
    assert len(requests) == len(set(requests))


def test_repair_snaps_a_clipped_quote_to_the_users_words():
    request = "How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'?"
    graph = plan({"id": 0, "task": "sentence-similarity",
                  "args": {"text": "A cat sits on the mat.", "text2": "A kitten rests on the rug"}})
    repair(graph, request, [])
    assert graph.tasks[0].args["text2"].value == "A kitten rests on the rug."


# -- listed steps: the controller lists the request's steps, then plans one task per step -----------

from core.planning.step_types import rank_step_types  # noqa: E402
from core.planning.data_flow import feeding_task  # noqa: E402
from core.planning.step_filter import grounded_steps, narrated, telling_sentences  # noqa: E402


def test_grounded_steps_keep_the_requests_own_steps_only():
    request = "I recorded a talk as talk.wav. Can you convert this speech into written text and sum it up?"
    listed = ["I recorded a talk as talk.wav",  # narration
              "transcribe talk.wav",  # a demo's wording: only the file name comes from the request
              "convert this speech into written text", "convert this speech into written text",  # repeated
              "find or change",  # the instructions' wording
              "sum it up"]
    assert grounded_steps(listed, request) == ["convert this speech into written text", "sum it up"]
    assert grounded_steps(["draw a boat"], "Say hello") == ["draw a boat"]  # nothing grounded: kept as listed


@pytest.mark.parametrize("step, told", [
    ("snap a picture with my camera", True),  # "I snapped a picture with my camera"
    ("record the file example.wav", True),  # "it was recorded in a file example.wav"
    ("write an article about a trip", True),  # "I've written an article about a trip"
    ("transcribe the recording", False),  # asked for in a question
    ("extract the data from the table", False),  # "I need help ... based on the extracted data"
    ("find the cars", False),  # "I found" is there, but not about cars
])
def test_narrated_steps_retell_what_the_user_did(minilm_embed, step, told):
    request = ("I snapped a picture with my camera and I found a table. The meeting was recorded in a file "
               "example.wav. I've written an article about a trip. Could you transcribe the recording so "
               "that I can review it? Also, I need help figuring out the total revenue based on the "
               "extracted data.")
    # the real classifier reads the first three sentences as asking for nothing, not the others
    assert narrated(step, telling_sentences(minilm_embed, request)) is told


def test_grounded_steps_leave_out_what_the_user_only_retells(minilm_embed):
    request = "I recently snapped a photo of a busy street, street.jpg. How many cars are in it?"
    telling = telling_sentences(minilm_embed, request)
    assert grounded_steps(["snap a photo of a busy street", "count the cars"], request, telling) == ["count the cars"]
    # without the story sentences, the step in the request's words stays
    assert grounded_steps(["snap a photo of a busy street", "count the cars"], request) == [
        "snap a photo of a busy street", "count the cars"]
    # narration goes even when the other steps are not in the request's words ...
    assert grounded_steps(["snap a photo of a busy street", "tally vehicles"], request, telling) == ["tally vehicles"]
    # ... and stays only when nothing else was listed, so that there is something to plan
    assert grounded_steps(["snap a photo of a busy street"], request, telling) == ["snap a photo of a busy street"]


def test_past_forms_come_from_the_inflection_tables():
    from core.planning.step_filter import past_forms

    assert past_forms("snap") == {"snapped"} and past_forms("take") == {"took", "taken"}
    assert past_forms("read") == set()  # spelled as the base: says nothing about tense


def test_step_wordings_name_known_task_types_with_several_wordings_each():
    from core.planning.prompting import step_wordings
    from core.tasks import get_task_type

    wordings = step_wordings()
    assert len(wordings) >= 20
    for name, texts in wordings.items():
        assert get_task_type(name).name == name
        assert len(texts) >= 4 and all(0 < len(text) <= 100 for text in texts)


def test_rankings_put_the_classifiers_best_type_first_among_the_allowed():
    calls = []
    embed = keyword_embedder(calls)
    lists = rank_step_types(embed, ["translate it into German", "read the speech aloud"])
    assert all(len(names) == len(lists[0]) > 20 for names in lists)  # every type, best first
    assert lists[0][0] == "translation"
    assert lists[1][0] in {"automatic-speech-recognition", "text-to-speech"}
    only = rank_step_types(embed, ["translate it"], allowed={"summarization", "translation"})
    assert only == [["translation", "summarization"]]
    fitted = len(calls)
    rank_step_types(embed, ["a poem"])  # the classifier is fitted once per embedder
    assert len(calls) == fitted + 1


def test_the_chain_search_offers_only_types_that_can_run_where_they_stand():
    from core.planning.step_types import best_chain, can_run

    assert not can_run("image-to-text", [], []) and can_run("image-to-text", ["cat.png"], [])
    assert can_run("image-to-text", [], ["image"])  # an earlier task makes the image
    # no image given: the step that reads like captioning must be the one that makes an image
    assert best_chain([{"image-to-text": -0.1, "text-to-image": -0.5}], []) == ["text-to-image"]
    assert best_chain([{"image-to-text": -0.1, "text-to-image": -0.5}], ["cat.png"]) == ["image-to-text"]
    # nothing can run: the step keeps its own best guess, so the planner can say what is missing
    assert best_chain([{"image-to-text": -0.1, "object-detection": -0.5}], []) == ["image-to-text"]


def test_the_chain_search_prefers_a_step_that_takes_the_previous_steps_result():
    from core.planning.step_types import FEED_BONUS, best_chain

    # the second step scores a little higher as image classification of the attached photo, but
    # reading the poem aloud takes what the first step wrote
    scores = [{"text-generation": -0.1}, {"image-classification": -1.0, "text-to-speech": -1.0 - FEED_BONUS / 2}]
    assert best_chain(scores, ["cat.png"]) == ["text-generation", "text-to-speech"]
    scores[1]["text-to-speech"] = -1.0 - 2 * FEED_BONUS  # a clear difference in meaning still wins
    assert best_chain(scores, ["cat.png"]) == ["text-generation", "image-classification"]


def test_a_controlnet_map_is_drawn_from_by_its_own_controlnet():
    from core.planning.step_types import FEED_BONUS, best_chain, takes_result

    assert takes_result("canny-control", "canny-text-to-image")
    assert not takes_result("canny-control", "depth-text-to-image")  # an image, but the wrong map
    assert takes_result("object-detection", "image-to-text")  # any other image goes anywhere it fits
    # "Use the edges of building.png to create a futuristic city": the drawing step reads a little
    # more like the depth ControlNet, but only the Canny one draws from a Canny map
    drawing = {"depth-text-to-image": -1.0, "canny-text-to-image": -1.0 - FEED_BONUS / 2}
    assert best_chain([{"canny-control": -0.5}, drawing], ["building.png"]) == ["canny-control", "canny-text-to-image"]
    assert best_chain([{"depth-control": -0.5}, drawing], ["building.png"]) == ["depth-control", "depth-text-to-image"]


def test_schema_with_listed_steps_has_one_task_per_step_and_offers_the_nearest_types_that_can_run():
    steps = ["caption cat.png", "read the caption aloud"]
    ranked = [["image-to-text", "image-classification", "depth-estimation"], ["text-to-speech", "text-to-image"]]
    schema = plan_schema(["cat.png"], steps=steps, rankings=ranked, per_step=2)
    assert len(schema["properties"]["tasks"]["anyOf"]) == 1  # exactly two tasks
    first, second = branches(schema, 0), branches(schema, 1)
    assert set(first) == {"image-to-text", "image-classification"}
    assert set(second) == {"text-to-speech", "text-to-image"}
    assert first["image-to-text"]["properties"]["step"] == {"const": "caption cat.png"}
    assert list(second["text-to-speech"]["properties"])[:2] == ["step", "id"]  # the step is written first
    # by default only the nearest type is offered ...
    assert set(branches(plan_schema(["cat.png"], steps=steps, rankings=ranked), 0)) == {"image-to-text"}
    # ... or, when it cannot run there (no image given), the nearest one that can
    nearest = branches(plan_schema([], steps=["classify it"], rankings=[["image-classification", "summarization"]]), 0)
    assert set(nearest) == {"summarization"}
    # a ranking of which nothing can run at its position offers every type instead
    fallback = branches(plan_schema([], steps=["classify it"], rankings=[["image-classification"]]), 0)
    assert "image-classification" not in fallback and "text-to-image" in fallback
    from llama_cpp import LlamaGrammar

    assert LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


def test_with_known_steps_each_task_takes_what_the_step_before_it_made():
    steps = ["draw a castle", "describe it", "translate the description to German", "read it aloud"]
    ranked = [["text-to-image"], ["image-to-text"], ["translation"], ["text-to-speech"]]
    schema = plan_schema([], steps=steps, rankings=ranked, data_flow=True)
    second, third, fourth = (branches(schema, k) for k in (1, 2, 3))
    assert second["image-to-text"]["properties"]["args"]["properties"]["image"] == {"const": "<GENERATED>-0"}
    assert second["image-to-text"]["properties"]["dep"] == {"const": [0]}
    assert third["translation"]["properties"]["args"]["properties"]["text"] == {"const": "<GENERATED>-1"}
    assert "text" in third["translation"]["properties"]["args"]["required"]
    assert fourth["text-to-speech"]["properties"]["args"]["properties"]["text"] == {"const": "<GENERATED>-2"}
    from llama_cpp import LlamaGrammar

    assert LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


@pytest.mark.parametrize("steps,ranked,files", [
    # a step that names its own file, or quotes its own text, chooses its input itself
    (["draw a boat", "detect objects in street.jpg"], [["text-to-image"], ["object-detection"]], ["street.jpg"]),
    (["write a poem", "translate 'good morning' to German"], [["text-generation"], ["translation"]], []),
])
def test_a_step_that_names_its_own_input_is_not_wired_for_it(steps, ranked, files):
    second = next(iter(branches(plan_schema(files, steps=steps, rankings=ranked, data_flow=True), 1).values()))
    own = second["properties"]["args"]["properties"]
    assert all("const" not in value for value in own.values()) and "const" not in second["properties"]["dep"]


def test_a_result_is_never_wired_into_a_question_or_a_target_language():
    # "caption photo.jpg, then tell me what colour the car is": the caption is not the question
    ranked = [["image-to-text"], ["visual-question-answering"]]
    schema = plan_schema(["photo.jpg"], steps=["caption photo.jpg", "tell me what colour the car is"],
                         rankings=ranked, data_flow=True)
    vqa = branches(schema, 1)["visual-question-answering"]["properties"]
    assert "const" not in vqa["args"]["properties"]["text"] and "const" not in vqa["dep"]
    # a transcript goes to the answer's context, and to the text a translation works on
    assert feeding_task(["automatic-speech-recognition", "question-answering"], 1) == 0
    schema = plan_schema(["talk.wav"], steps=["transcribe talk.wav", "answer who spoke first"],
                         rankings=[["automatic-speech-recognition"], ["question-answering"]], data_flow=True)
    qa = branches(schema, 1)["question-answering"]["properties"]["args"]["properties"]
    assert qa["context"] == {"const": "<GENERATED>-0"} and "const" not in qa["question"]
    schema = plan_schema(["talk.wav"], steps=["transcribe talk.wav", "translate it into French"],
                         rankings=[["automatic-speech-recognition"], ["translation"]], data_flow=True)
    translation = branches(schema, 1)["translation"]["properties"]["args"]["properties"]
    assert translation["text"] == {"const": "<GENERATED>-0"} and "const" not in translation["language"]


@pytest.mark.parametrize("second_step,wired", [
    ("draw a dog", False),  # its own description: the dog, not the caption
    ("draw it as a cartoon", True),  # points back at the caption
    ("make a picture of that description", True),
])
def test_a_prompt_takes_an_earlier_result_only_when_its_step_points_back(second_step, wired):
    schema = plan_schema(["cat.png"], steps=["caption cat.png", second_step],
                         rankings=[["image-to-text"], ["text-to-image"]], data_flow=True)
    drawing = branches(schema, 1)["text-to-image"]["properties"]
    assert (drawing["args"]["properties"]["text"] == {"const": "<GENERATED>-0"}) is wired
    assert ("const" in drawing["dep"]) is wired


def test_a_text_made_two_steps_back_is_not_wired_into_a_text_step():
    # caption, then draw, then read aloud: the caption is not what "read it aloud" is given by the types
    ranked = [["image-to-text"], ["text-to-image"], ["image-classification"]]
    assert feeding_task(["image-to-text", "text-to-image", "text-to-speech"], 2) is None
    assert feeding_task(["image-to-text", "text-to-image", "image-classification"], 2) == 1
    schema = plan_schema(["cat.png"], steps=["caption cat.png", "draw a dog", "classify it"], rankings=ranked,
                         data_flow=True)
    third = branches(schema, 2)["image-classification"]["properties"]
    assert third["args"]["properties"]["image"] == {"const": "<GENERATED>-1"}
    # without data_flow the controller chooses among the inputs that fit
    chosen = branches(plan_schema(["cat.png"], steps=["caption cat.png", "draw a dog", "classify it"],
                                  rankings=ranked), 2)["image-classification"]["properties"]
    assert chosen["args"]["properties"]["image"] == {"enum": ["cat.png", "<GENERATED>-1"]}


def test_planner_plans_one_task_per_listed_step_and_keeps_the_steps():
    steps = {"steps": ["draw a boat", "describe it"]}
    plan = {"tasks": [{"step": "draw a boat", "id": 0, "task": "text-to-image", "dep": [], "args": {"text": "a boat"}},
                      {"step": "describe it", "id": 1, "task": "image-to-text", "dep": [0],
                       "args": {"image": "<GENERATED>-0"}}]}
    controller = SchemaRecorder(steps, plan)
    outcome = Planner(controller, embed=keyword_embedder([])).plan("Draw a boat and describe it", [])
    assert [t.step for t in outcome.graph.tasks] == ["draw a boat", "describe it"]
    assert outcome.graph.to_list()[1]["step"] == "describe it"
    listing, planning = controller.calls
    assert '{"steps": [' in listing[2]["content"] and listing[-1]["content"] == "Draw a boat and describe it"
    assert len(controller.schemas[1]["properties"]["tasks"]["anyOf"]) == 1
    assert len(branches(controller.schemas[1], 0)) <= 3


def test_the_planner_wires_by_the_types_in_clause_mode_and_leaves_it_to_a_listing_controller(monkeypatch):
    monkeypatch.setattr(Planner, "_rankings", lambda self, steps, files: [["text-to-image"], ["image-to-text"]])
    assert Planner(ScriptedController(), steps="clauses").data_flow
    assert not Planner(ScriptedController(), steps="listed").data_flow
    steps = {"steps": ["draw a boat", "describe it"]}
    plan = {"tasks": [{"step": "draw a boat", "id": 0, "task": "text-to-image", "dep": [], "args": {"text": "a boat"}},
                      {"step": "describe it", "id": 1, "task": "image-to-text", "dep": [0],
                       "args": {"image": "<GENERATED>-0"}}]}
    controller = SchemaRecorder(steps, plan)
    Planner(controller, embed=keyword_embedder([]), data_flow=True).plan("Draw a boat and describe it", [])
    second = branches(controller.schemas[1], 1)["image-to-text"]["properties"]
    assert second["args"]["properties"]["image"] == {"const": "<GENERATED>-0"} and second["dep"] == {"const": [0]}


def test_clause_mode_lets_the_controller_list_the_steps_when_the_classifier_fails(monkeypatch, caplog):
    import core.planning.planner as planner_module

    def broken(*args, **kwargs):
        raise RuntimeError("classifier unavailable")

    monkeypatch.setattr(planner_module, "clause_steps", broken)
    monkeypatch.setattr(planner_module, "with_missing_clauses", broken)
    steps = {"steps": ["say hello"]}
    plan = {"tasks": [{"step": "say hello", "id": 0, "task": "text-to-speech", "dep": [], "args": {"text": "hello"}}]}
    controller = SchemaRecorder(steps, plan)
    outcome = Planner(controller, embed=keyword_embedder([]), steps="clauses").plan("Say hello", [])
    assert [t.step for t in outcome.graph.tasks] == ["say hello"] and len(controller.calls) == 2
    assert "classifier unavailable" in caplog.text


def test_planner_drops_listed_steps_that_make_no_plan_and_plans_freely():
    steps = {"steps": ["say hello"]}
    unusable = {"tasks": [{"step": "say hello", "id": 0, "task": "image-classification", "dep": [],
                           "args": {"image": "<GENERATED>-3"}}]}
    free = {"tasks": [{"step": "say hello", "id": 0, "task": "text-to-speech", "dep": [], "args": {"text": "hello"}}]}
    controller = SchemaRecorder(steps, unusable, free)
    outcome = Planner(controller).plan("Say hello", [])
    assert [t.type for t in outcome.graph.tasks] == ["text-to-speech"]
    assert "without the listed steps" in outcome.repairs[0]
    assert len(controller.schemas[2]["properties"]["tasks"]["anyOf"]) == 6  # free length again


def test_planner_plans_without_steps_when_the_controller_lists_none():
    reply = {"tasks": [{"id": 0, "task": "text-to-speech", "dep": [], "args": {"text": "hello"}}]}
    controller = SchemaRecorder({"steps": []}, reply)
    outcome = Planner(controller).plan("Say hello", [])
    assert [t.type for t in outcome.graph.tasks] == ["text-to-speech"] and outcome.graph.tasks[0].step == ""


def test_step_mode_auto_reads_clauses_for_a_small_controller_and_lists_steps_for_others(caplog, tmp_path):
    from types import SimpleNamespace

    from app.wiring import SMALL_CONTROLLER_BYTES, step_mode

    small, big = tmp_path / "small.gguf", tmp_path / "big.gguf"
    small.write_bytes(b"GGUF" + bytes(100))
    with big.open("wb") as handle:  # sparse: the size is what counts
        handle.truncate(SMALL_CONTROLLER_BYTES + 1)
    assert step_mode("auto", SimpleNamespace(settings=SimpleNamespace(path=small))) == "clauses"
    assert step_mode("auto", SimpleNamespace(settings=SimpleNamespace(path=big))) == "listed"
    assert step_mode("auto", SimpleNamespace(settings=SimpleNamespace(path=tmp_path / "gone.gguf"))) == "listed"
    assert step_mode("auto") == "listed"  # a server's model: size unknown
    assert step_mode("inline") == "inline" and step_mode("off") == "off" and step_mode("clauses") == "clauses"
    assert step_mode("sometimes") == "listed"
    assert "not one of auto" in caplog.text
    with pytest.raises(ValueError, match="unknown step mode"):
        Planner(ScriptedController(), steps="sometimes")
