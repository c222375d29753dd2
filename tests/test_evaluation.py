"""The planning evaluation: TaskBench data quirks, name mapping, metrics by hand, the harness, the CLI."""

import json
import subprocess
import sys

import pytest

from core.plan import PlanError, parse_plan
from core.planning.evaluation import harness
from core.planning.evaluation.metrics import Counts, edit_distance, macro_f1, micro_f1, node_counts, pooled_f1, score
from core.planning.evaluation.names import ToolNames
from core.planning.evaluation.taskbench import Graph, load_samples, load_tools, parse_sample
from core.tasks import get_task_type
from tests.conftest import ROOT

# The Hugging Face domain's tool list, as TaskBench names it.
TOOLS = ["Token Classification", "Translation", "Summarization", "Question Answering", "Conversational",
         "Text Generation", "Sentence Similarity", "Tabular Classification", "Object Detection",
         "Image Classification", "Image-to-Image", "Image-to-Text", "Text-to-Image", "Text-to-Video",
         "Visual Question Answering", "Document Question Answering", "Image Segmentation", "Depth Estimation",
         "Text-to-Speech", "Automatic Speech Recognition", "Audio-to-Audio", "Audio Classification", "Image Editing"]
NAMES = ToolNames(TOOLS)


def sample(nodes, links=(), **extra):
    return parse_sample({"id": "x", "type": "chain", "instruction": "do it", "task_nodes": nodes,
                         "task_links": list(links), **extra}, NAMES)


# -- name mapping ------------------------------------------------------------------------------

@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_maps_to_a_catalogue_type_and_back(tool):
    task_type = NAMES.task_type(tool)
    assert task_type is not None and get_task_type(task_type) is not None
    assert NAMES.tool(task_type) == tool


def test_name_mapping_details():
    assert NAMES.task_type("Image Editing") == "image-editing"
    assert NAMES.canonical("text_to_speech") == "Text-to-Speech"
    assert NAMES.canonical("  Data   Extraction ") == "Data Extraction"  # outside the list: only tidied
    assert not NAMES.known("Data Extraction") and NAMES.known("Translation")
    assert NAMES.tool("fill-mask") == "Fill Mask"  # a type with no tool matches no gold name
    assert NAMES.unmapped() == []
    assert len(NAMES.task_types()) == 23
    assert {t.name for t in NAMES.task_types()} == {NAMES.task_type(t) for t in TOOLS}


# -- data quirks ---------------------------------------------------------------------------------

def test_zero_based_references_become_links_of_the_producing_tool():
    gold = sample([{"task": "Automatic Speech Recognition", "arguments": ["talk.wav"]},
                   {"task": "Summarization", "arguments": ["<node-0>"]}],
                  [{"source": "Automatic Speech Recognition", "target": "Summarization"}]).gold
    assert gold.nodes == ("Automatic Speech Recognition", "Summarization")
    assert gold.links == (("Automatic Speech Recognition", "Summarization"),)
    assert gold.args == (("Automatic Speech Recognition", "talk.wav"), ("Summarization", "Automatic Speech Recognition"))


def test_one_based_references_are_resolved_by_the_gold_links():
    # <node-1> in node 1 can only mean node 0; <node-2> in node 2 is backed by the link from node 1.
    gold = sample([{"task": "Text-to-Image", "arguments": ["a red kite"]},
                   {"task": "Image Segmentation", "arguments": ["<node-1>"]},
                   {"task": "Image-to-Image", "arguments": ["<node-2>"]}],
                  [{"source": "Text-to-Image", "target": "Image Segmentation"},
                   {"source": "Image Segmentation", "target": "Image-to-Image"}]).gold
    assert gold.args == (("Text-to-Image", "a red kite"), ("Image Segmentation", "Text-to-Image"),
                         ("Image-to-Image", "Image Segmentation"))


def test_an_ambiguous_reference_follows_the_link_else_reads_zero_based():
    nodes = [{"task": "Translation", "arguments": ["Hallo"]}, {"task": "Summarization", "arguments": ["x"]},
             {"task": "Text-to-Speech", "arguments": ["<node-1>"]}]
    linked_to_first = sample(nodes, [{"source": "Translation", "target": "Text-to-Speech"}]).gold
    assert ("Text-to-Speech", "Translation") in linked_to_first.args
    unlinked = sample(nodes).gold
    assert ("Text-to-Speech", "Summarization") in unlinked.args


def test_reference_inside_a_longer_text_and_self_reference():
    gold = sample([{"task": "Image-to-Text", "arguments": ["a.jpg"]},
                   {"task": "Question Answering", "arguments": ["What is in <node-0>?", "<node-1>"]}]).gold
    # "<node-1>" in node 1 would name the node itself read 0-based, so it is read 1-based: node 0.
    assert gold.args == (("Image-to-Text", "a.jpg"), ("Question Answering", "Image-to-Text"),
                         ("Question Answering", "Image-to-Text"))
    named = sample([{"task": "Image Segmentation", "arguments": ["a.jpg"]},
                    {"task": "Document Question Answering", "arguments": ["<output_of_Image_Segmentation>", "Who?"]}]).gold
    assert ("Document Question Answering", "Image Segmentation") in named.args
    lone = sample([{"task": "Summarization", "arguments": ["<node-0>"]}]).gold
    assert lone.args == ()  # a node cannot consume its own output: dropped


def test_other_shapes_of_nodes_arguments_and_links():
    gold = sample({"step_1": {"task": "Text Generation", "arguments": "a poem about rain"},
                   "step_2": {"task": "translation", "arguments": [{"from": "Text Generation"}, 250, ["in", "French"]],
                              "output": ["text.txt"]}},
                  [{"source": "Text Generation", "destination": "Translation"},
                   {"source": "Text Generation", "target": "Translation", "label": "text flow"},
                   "not a link"]).gold
    assert gold.nodes == ("Text Generation", "Translation")
    assert gold.links == (("Text Generation", "Translation"),)  # both spellings, counted once
    assert gold.args == (("Text Generation", "a poem about rain"), ("Translation", "Text Generation"),
                         ("Translation", "250"), ("Translation", "in French"))


def test_names_outside_the_tool_list_are_kept_as_written():
    gold = sample([{"task": "Text-to-Emotion", "arguments": ["I won!"]}, {"task": "Emotion_to_Image", "arguments": []}],
                  [{"source": "Text-to-Emotion", "target": "Emotion_to_Image"}]).gold
    assert gold.nodes == ("Text-to-Emotion", "Emotion to Image")
    assert gold.links == (("Text-to-Emotion", "Emotion to Image"),)


def test_loading_skips_broken_lines_with_a_reason(tmp_path):
    good = {"id": "1", "type": "single", "instruction": "Read 'hi' aloud.",
            "task_nodes": [{"task": "Text-to-Speech", "arguments": ["hi"]}], "task_links": []}
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join([json.dumps(good), "", "{broken", json.dumps({"id": "2", "instruction": ""}),
                               json.dumps({"id": "3", "instruction": "x", "task_nodes": "nope"}),
                               json.dumps({"id": "4", "instruction": "x", "task_nodes": [{"arguments": []}]}),
                               "[1, 2]"]), encoding="utf-8")
    samples, skipped = load_samples(path, NAMES)
    assert [s.id for s in samples] == ["1"] and samples[0].type == "single"
    assert [line.split(":")[0] for line in skipped] == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    tools = tmp_path / "tool_desc.json"
    tools.write_text(json.dumps({"nodes": [{"id": "Text-to-Speech", "desc": "speak"}, {"id": "Translation"}]}))
    assert load_tools(tools) == ["Text-to-Speech", "Translation"]


# -- metrics, computed by hand -------------------------------------------------------------------

def test_f1_counts():
    counts = Counts()
    counts.add({"a", "b"}, {"a", "c"})
    assert (counts.tp, counts.fp, counts.fn) == (1, 1, 1)
    assert counts.f1 == pytest.approx(0.5)
    assert Counts().f1 is None


def test_node_f1_micro_and_macro_ignore_names_outside_the_list_and_repeats():
    pairs = [(Graph(("Automatic Speech Recognition", "Summarization")), Graph(("Automatic Speech Recognition", "Translation"))),
             (Graph(("Text-to-Speech", "Emotion to Image")), Graph(("Text-to-Speech", "Text-to-Speech")))]
    per_tool = node_counts(pairs, TOOLS)
    assert set(per_tool) == {"Automatic Speech Recognition", "Summarization", "Translation", "Text-to-Speech"}
    assert micro_f1(per_tool) == pytest.approx(4 / 6)  # tp 2, fp 1, fn 1
    assert macro_f1(per_tool) == pytest.approx(0.5)  # (1 + 0 + 0 + 1) / 4


def test_link_and_argument_f1_pool_over_samples():
    pairs = [(Graph(links=(("A", "B"), ("B", "C"))), Graph(links=(("A", "B"), ("A", "C")))),
             (Graph(links=()), Graph(links=(("C", "D"),)))]
    assert pooled_f1(pairs, "links") == pytest.approx(2 / 5)  # tp 1, fp 2, fn 1
    args = [(Graph(args=(("Translation", "Hallo"), ("Translation", "French"))), Graph(args=(("Translation", "Hallo"),)))]
    assert pooled_f1(args, "args") == pytest.approx(2 / 3)
    assert pooled_f1([(Graph(), Graph())], "links") is None


@pytest.mark.parametrize("gold, predicted, expected", [
    (("A", "B", "C"), ("A", "B", "C"), 0.0),
    (("A", "B", "C"), ("A", "C"), 1 / 5),  # one deletion over 5 names
    (("A", "B"), ("B", "A"), 2 / 4),  # one deletion and one insertion over 4
    (("A", "B"), ("C",), 1.0),
    (("A",), (), 1.0),
    ((), (), 0.0),
])
def test_edit_distance_is_indel_over_summed_length(gold, predicted, expected):
    assert edit_distance(gold, predicted) == pytest.approx(expected)


def test_score_names_every_figure():
    figures = score([(Graph(("Translation",)), Graph(("Translation",)))], TOOLS)
    assert figures == {"node_f1": 1.0, "node_f1_macro": 1.0, "link_f1": None, "arg_f1": None, "edit_distance": 0.0}


# -- harness ---------------------------------------------------------------------------------------

def test_plan_graph_turns_dependencies_into_links_and_references_into_tool_names():
    plan = parse_plan({"tasks": [
        {"id": 0, "task": "automatic-speech-recognition", "args": {"audio": "talk.wav"}},
        {"id": 1, "task": "translation", "args": {"text": "<GENERATED>-0", "language": " French "}},
        {"id": 2, "task": "text-to-speech", "dep": [0], "args": {"text": "<GENERATED>-1"}}]}, {"talk.wav"})
    graph = harness.plan_graph(plan, NAMES)
    assert graph.nodes == ("Automatic Speech Recognition", "Translation", "Text-to-Speech")
    assert set(graph.links) == {("Automatic Speech Recognition", "Translation"),
                                ("Automatic Speech Recognition", "Text-to-Speech"), ("Translation", "Text-to-Speech")}
    assert graph.args == (("Automatic Speech Recognition", "talk.wav"), ("Translation", "Automatic Speech Recognition"),
                          ("Translation", "French"), ("Text-to-Speech", "Translation"))


def test_run_scores_failed_plans_as_empty_and_summarises_per_type():
    samples = [parse_sample({"id": str(i), "type": kind, "instruction": request,
                             "task_nodes": [{"task": "Summarization", "arguments": ["text"]}], "task_links": []}, NAMES)
               for i, (kind, request) in enumerate([("single", "good"), ("single", "bad"), ("chain", "good")])]

    def plan(request):
        if request == "bad":
            raise PlanError("no plan")
        return parse_plan({"tasks": [{"id": 0, "task": "summarization", "args": {"text": "text"}}]})

    seen = []
    predictions = harness.run(samples, plan, NAMES, on_prediction=seen.append)
    assert [p.valid for p in predictions] == [True, False, True] and seen == predictions
    assert predictions[1].graph == Graph() and predictions[1].error == "no plan"
    figures = harness.summarise(predictions, TOOLS)
    assert figures["n"] == 3 and figures["valid_rate"] == pytest.approx(2 / 3)
    assert figures["node_f1"] == pytest.approx(0.8)  # tp 2, fn 1
    assert figures["edit_distance"] == pytest.approx(1 / 3)
    assert list(figures["by_type"]) == ["single", "chain"]
    assert figures["by_type"]["single"]["valid_rate"] == 0.5 and figures["by_type"]["chain"]["node_f1"] == 1.0
    assert json.dumps(predictions[0].to_dict())


def test_folds_are_stable_and_each_fold_is_scored_on_its_own_samples():
    samples = [parse_sample({"id": f"s{i}", "type": "single", "instruction": "x",
                             "task_nodes": [{"task": "Summarization", "arguments": ["text"]}], "task_links": []}, NAMES)
               for i in range(40)]
    folds = [harness.fold_of(s.id, 4) for s in samples]
    assert folds == [harness.fold_of(s.id, 4) for s in reversed(samples)][::-1]  # by id, not position
    assert set(folds) == {0, 1, 2, 3}
    right = {s.id for s, k in zip(samples, folds) if k == 0}  # fold 0 planned right, the rest wrong
    predictions = [harness.Prediction(s, Graph(("Summarization" if s.id in right else "Translation",)), True, 0.0)
                   for s in samples]
    summary = harness.by_fold(predictions, TOOLS, 4)
    assert [f["node_f1"] for f in summary["folds"]] == [1.0, 0.0, 0.0, 0.0]
    assert sum(f["n"] for f in summary["folds"]) == 40
    assert summary["node_f1"] == {"mean": 0.25, "min": 0.0, "max": 1.0}


# -- the command, with the real default controller ------------------------------------------------

def test_cli_eval_plan_json_with_the_real_controller(tmp_path):
    rows = [
        {"id": "a", "type": "single", "instruction": "Please read the sentence 'Good night, everyone.' out loud.",
         "task_nodes": [{"task": "Text-to-Speech", "arguments": ["Good night, everyone."]}], "task_links": []},
        {"id": "b", "type": "chain", "instruction": "Transcribe memo.wav and then summarize it for me.",
         "task_nodes": [{"task": "Automatic Speech Recognition", "arguments": ["memo.wav"]},
                        {"task": "Summarization", "arguments": ["<node-0>"]}],
         "task_links": [{"source": "Automatic Speech Recognition", "target": "Summarization"}]},
        {"id": "c", "type": "single", "instruction": "never planned: beyond --limit",
         "task_nodes": [{"task": "Translation", "arguments": ["x"]}], "task_links": []},
    ]
    (tmp_path / "small.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (tmp_path / "tool_desc.json").write_text(json.dumps({"nodes": [{"id": t} for t in TOOLS]}), encoding="utf-8")
    env = {"JARVIS_DATA_DIR": str(tmp_path / "data"), "JARVIS_CONFIG_DIR": str(tmp_path / "config"),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "eval", "plan", "--data", str(tmp_path / "small.jsonl"),
                           "--limit", "2", "--folds", "2", "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) >= {"node_f1", "link_f1", "edit_distance", "valid_rate", "n", "by_type"}
    assert figures["n"] == 2 and set(figures["by_type"]) == {"single", "chain"}
    assert 0.0 <= figures["node_f1"] <= 1.0 and 0.0 <= figures["edit_distance"] <= 1.0
    assert figures["valid_rate"] == 1.0  # the constrained planner always produces a runnable plan here
    assert sum(f["n"] for f in figures["cross_validation"]["folds"]) == 2
    # the default controller's steps come from the clauses, and the task types wire the plan
    assert figures["steps"] == "clauses" and figures["wiring"] == "types"
    assert figures["by_type"]["chain"]["link_f1"] == 1.0


def test_cli_eval_plan_bad_input(tmp_path):
    env = {"JARVIS_DATA_DIR": str(tmp_path / "data"), "JARVIS_CONFIG_DIR": str(tmp_path / "config"),
           "PATH": "/usr/bin:/bin"}
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    for args, message in ((["--data", str(tmp_path / "none.jsonl")], "no such file"),
                          (["--data", str(tmp_path / "empty.jsonl")], "pass the tool list with --tools"),
                          (["--data", str(tmp_path / "empty.jsonl"), "--folds", "1"], "--folds must be at least 2")):
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "eval", "plan", *args], capture_output=True,
                              text=True, env=env, timeout=120)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
