"""How Stop reaches a prompt being read: the abort callback inside llama.cpp's batches against
reading the prompt in chunks of 128 tokens with Stop asked between them (the fallback).

    .venv/bin/python benchmarks/bench_prompt_chunks.py [--rounds N]

Evaluates the same 1260-token prompt on the default controller both ways, interleaved, and prints
the median seconds to read it whole and from Stop (pressed 0.3 s into the prompt) to the end of
the chat.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    from app.wiring import default_controller_path
    from common.cancel import CancelToken
    from core.llm.controller import LlamaController, LlamaSettings
    from core.llm.greedy_grammar import StopRequested

    llama = LlamaController(LlamaSettings(path=default_controller_path())).load()
    tokens = llama.tokenize(" ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 90)
                            .encode())
    aborts = llama.aborts_mid_batch
    read: dict[str, list[float]] = {}
    stop: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, mid_batch in (("abort callback, 512-token batches", True), ("chunks of 128, Stop between", False)):
            llama.aborts_mid_batch = mid_batch and aborts
            llama.reset()
            start = time.perf_counter()
            llama.eval(tokens)
            read.setdefault(name, []).append(time.perf_counter() - start)
            llama.reset()
            cancel = CancelToken()
            pressed = {}
            timer = threading.Timer(0.3, lambda: (pressed.setdefault("at", time.perf_counter()), cancel.cancel()))
            llama.stop_on(cancel)
            timer.start()
            try:
                llama.eval(tokens)
            except StopRequested:
                pass
            timer.join()
            stop.setdefault(name, []).append(time.perf_counter() - pressed["at"])
            llama.stop_on(None)
    print(f"{len(tokens)} prompt tokens, medians of {rounds}" + ("" if aborts else " (no abort callback here)"))
    for name in read:
        print(f"{name}: read {statistics.median(read[name]):.2f} s, Stop to end {statistics.median(stop[name]):.3f} s")


if __name__ == "__main__":
    main()
