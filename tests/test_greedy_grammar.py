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
