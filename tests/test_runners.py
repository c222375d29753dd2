"""Expert runners loaded through the product's store and runtime."""

from pathlib import Path

from common.cancel import CancelToken
from models.runtime import ExpertError, ExpertRuntime
from models.store import LocalStore

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def test_store_lists_the_default_models(tmp_path):
    records = {r.id: r for r in LocalStore(tmp_path).list()}
    assert records["SmolLM2-135M-Instruct.Q4_1.gguf"].format == "gguf"
    assert records["SmolLM2-135M-Instruct.Q4_1.gguf"].size_bytes > 90_000_000
    assert records[MINILM].task == "sentence-similarity"
    assert records[MINILM].format == "safetensors"


def test_real_minilm_scores_a_paraphrase_above_an_unrelated_sentence(tmp_path):
    runtime = ExpertRuntime(LocalStore(tmp_path))
    run = lambda a, b: runtime.run(MINILM, "sentence-similarity", {"text": a, "text2": b}, tmp_path, CancelToken())
    paraphrase = run("A cat sits on the mat.", "A kitten rests on the rug.")
    unrelated = run("A cat sits on the mat.", "Interest rates rose in the third quarter.")
    assert paraphrase["score"] > unrelated["score"] + 0.3
    assert paraphrase["device"] == "cpu" and paraphrase["dtype"] == "float32"
    assert runtime.loads == 1  # the second call found the model warm


def test_runtime_refuses_unknown_and_wrong_task_models(tmp_path):
    runtime = ExpertRuntime(LocalStore(tmp_path))
    for model, task, message in [("nobody/nothing", "sentence-similarity", "not installed"),
                                 (MINILM, "text-classification", "does sentence-similarity, not text-classification")]:
        try:
            runtime.run(model, task, {}, Path(tmp_path), CancelToken())
        except ExpertError as error:
            assert message in str(error)
        else:
            raise AssertionError("expected ExpertError")
