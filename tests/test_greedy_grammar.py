"""The grammar-first greedy sampler picks exactly the tokens llama-cpp-python's own sampler chain
picks, on the real controller GGUF, for plan schemas with and without files."""

import json

import pytest

from core.planning.planner import Planner, plan_schema

REQUESTS = [
    ("How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'?", []),
    ("What objects are in street.jpg? Then read a caption of it aloud.", ["street.jpg"]),
]


@pytest.fixture(scope="module")
def llamas(controller_path):
    from llama_cpp import Llama

    from core.llm.greedy_grammar import GreedyGrammarLlama

    options = dict(model_path=str(controller_path), n_ctx=2048, n_threads=2, verbose=False, seed=0)
    return Llama(**options), GreedyGrammarLlama(**options)


@pytest.mark.parametrize("request_text, files", REQUESTS)
def test_same_plan_as_the_full_vocabulary_check(llamas, request_text, files):
    from llama_cpp import LlamaGrammar

    messages = Planner(controller=None).messages(request_text, files, [])
    grammar = LlamaGrammar.from_json_schema(json.dumps(plan_schema(files)), verbose=False)
    plans = [llama.create_chat_completion(messages=messages, grammar=grammar, temperature=0.0, top_k=1,
                                          max_tokens=200)["choices"][0]["message"]["content"]
             for llama in llamas]
    assert plans[0] == plans[1]
    assert json.loads(plans[1])["tasks"]  # a whole plan, not a cut-off one


def test_free_text_keeps_the_library_sampler(llamas):
    from core.llm.greedy_grammar import GreedyGrammarSampler

    llama = llamas[1]
    assert not isinstance(llama._init_sampler(temp=0.0, repeat_penalty=1.15, grammar=None), GreedyGrammarSampler)


LONG_PROMPT = " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 90) + " Summarise."


def test_stop_aborts_the_prompt_mid_batch_and_the_context_reads_it_again_whole(controller_path):
    """Stop during a 1300-token prompt (seconds on a CPU, in 512-token batches) ends the chat
    inside the batch being read, not after it; the next chat on the same context gives the same
    reply as an uninterrupted one."""
    import threading

    from common.cancel import Cancelled, CancelToken
    from core.llm.controller import LlamaController, LlamaSettings

    controller = LlamaController(LlamaSettings(path=controller_path, n_ctx=2048))
    llama = controller.load()
    assert llama.aborts_mid_batch
    messages = [{"role": "user", "content": LONG_PROMPT}]
    expected = controller.chat(messages, max_tokens=6).text
    llama.reset()
    cancel = CancelToken()
    decode = llama._ctx.decode

    def decode_then_stop(batch):  # Stop pressed 20 ms into the first batch, however fast it is
        threading.Timer(0.02, cancel.cancel).start()
        llama._ctx.decode = decode
        return decode(batch)

    llama._ctx.decode = decode_then_stop
    with pytest.raises(Cancelled):
        controller.chat(messages, max_tokens=6, cancel=cancel)
    assert llama.n_tokens == 0  # the first 512-token batch was abandoned, not finished
    assert controller.chat(messages, max_tokens=6).text == expected
    assert controller.chat(messages, max_tokens=6, cancel=CancelToken()).text == expected  # no flag left set
    controller.close()
