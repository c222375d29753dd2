"""The grammar-first greedy sampler picks exactly the tokens llama-cpp-python's own sampler chain
picks, on the real controller GGUF, for plan schemas with and without files; its drafts (read in
batches) make plans that follow the schema in fewer decodes."""

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
    llamas[1].drafts = False  # a batch's arithmetic rounds differently from one token's: see below
    try:
        plans = [llama.create_chat_completion(messages=messages, grammar=grammar, temperature=0.0, top_k=1,
                                              max_tokens=200)["choices"][0]["message"]["content"]
                 for llama in llamas]
    finally:
        llamas[1].drafts = True
    assert plans[0] == plans[1]
    assert json.loads(plans[1])["tasks"]  # a whole plan, not a cut-off one


def test_drafts_are_checked_in_batches_and_make_the_plan_in_fewer_decodes(llamas):
    """With steps forced (as when they are read from the request's clauses) most of a plan is
    copied: drafts accepted in batches take far fewer decodes than tokens, and the plan follows the
    schema. Not asserted: the same text as one token at a time. A batch's logits round differently
    (up to 0.4 of about 27 seen), so a near tie can go either way, as it can between two
    prompt batch sizes."""
    from llama_cpp import LlamaGrammar

    from core.llm.greedy_grammar import forced_prefixes

    llama = llamas[1]
    request, files = REQUESTS[1]
    steps = ["What objects are in street.jpg?", "read a caption of it aloud"]
    schema = plan_schema(files, steps=steps, rankings=[["object-detection"], ["text-to-speech"]])
    messages = Planner(controller=None, steps="clauses").messages(request, files, [])
    grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    decodes = []
    decode = llama._ctx.decode
    llama._ctx.decode = lambda batch: (decodes.append(batch.batch.n_tokens), decode(batch))[1]
    try:
        llama.reset()
        llama.draft_from(forced_prefixes(schema))
        reply = llama.create_chat_completion(messages=messages, grammar=grammar, temperature=0.0, top_k=1,
                                             max_tokens=200)
    finally:
        llama._ctx.decode = decode
        llama.draft_from([])
    tasks = json.loads(reply["choices"][0]["message"]["content"])["tasks"]
    assert [(task["step"], task["task"]) for task in tasks] == [(steps[0], "object-detection"),
                                                                (steps[1], "text-to-speech")]
    tokens = reply["usage"]["completion_tokens"]
    assert len(decodes) - 1 < tokens * 2 // 3  # less the prompt's decode: a third or more came in batches


def test_forced_prefixes_are_the_constant_start_of_each_object():
    from core.llm.greedy_grammar import forced_prefixes

    schema = plan_schema([], steps=["read it aloud"], rankings=[["text-to-speech"]])
    assert forced_prefixes(schema) == ['{"step": "read it aloud", "id": 0, "task": "text-to-speech", "dep": [], "args": ']
    assert forced_prefixes({"type": "object", "properties": {"a": {"type": "string"}}}) == []


def test_the_draft_copies_what_followed_the_latest_match():
    import numpy as np

    from core.llm.greedy_grammar import LookupDraft

    draft = LookupDraft(max_ngram=3, max_tokens=3)
    ids = np.array([1, 2, 3, 9, 9, 1, 2, 3, 4, 5, 6, 7, 1, 2, 3])
    assert list(draft(ids)) == [4, 5, 6]  # the latest earlier "1 2 3", not the first
    assert list(draft(np.array([5, 6, 7, 8]))) == []  # nothing to copy
    assert list(draft(np.array([4, 1, 2, 4]))) == [1, 2, 4]  # a shorter match when no longer one
    draft.force([[7, 8, 1, 2, 3, 5], [7, 8, 1, 2, 3, 6]])  # two branches of a schema
    assert list(draft(np.array([9, 1, 2, 3, 7, 8]))) == [1, 2, 3]  # what both branches force next
    assert list(draft(np.array([9, 1, 2]))) == [3]  # the forced text, not the context's "3 7 8"
    assert list(draft(np.array([3, 9, 7, 8, 1, 2, 3]))) == [9, 7, 8]  # branches disagree: the context


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
