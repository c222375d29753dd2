"""Prompt reading in chunks (so Stop is asked between them) against llama-cpp-python's own batches.

    .venv/bin/python benchmarks/bench_prompt_chunks.py [--rounds N]

Evaluates the same 1260-token prompt on the default controller with EVAL_CHUNK 512 (one batch of
llama-cpp-python's default size), 128 and 64, interleaved, and prints the median seconds of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    from app.wiring import default_controller_path
    from core.llm.controller import LlamaController, LlamaSettings
    from core.llm.greedy_grammar import GreedyGrammarLlama

    llama = LlamaController(LlamaSettings(path=default_controller_path())).load()
    tokens = llama.tokenize(" ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 90)
                            .encode())
    seconds: dict[int, list[float]] = {}
    for _ in range(rounds):
        for chunk in (512, 128, 64):
            GreedyGrammarLlama.EVAL_CHUNK = chunk
            llama.reset()
            start = time.perf_counter()
            llama.eval(tokens)
            seconds.setdefault(chunk, []).append(time.perf_counter() - start)
    print(f"{len(tokens)} prompt tokens, medians of {rounds}")
    for chunk, values in seconds.items():
        print(f"chunk {chunk:4d}: {statistics.median(values):.2f} s")


if __name__ == "__main__":
    main()
