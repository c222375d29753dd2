"""Loading the controller leaves the process's output alone: nothing another thread writes to
stderr while the GGUF loads is lost, and llama.cpp's own chatter goes to logging, not the streams."""

import re
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import sys, threading, time
from app.wiring import default_controller_path
from core.llm.controller import LlamaController, LlamaSettings

controller = LlamaController(LlamaSettings(path=default_controller_path(), n_ctx=512))
stop, written = threading.Event(), []

def write():
    while not stop.is_set():
        print(f"line {len(written)}", file=sys.stderr, flush=True)
        written.append(1)
        time.sleep(0.001)

thread = threading.Thread(target=write)
thread.start()
time.sleep(0.01)
controller.load()
stop.set()
thread.join()
print(f"written {len(written)}", flush=True)
"""


def test_output_written_during_a_controller_load_is_all_there():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    written = int(re.fullmatch(r"written (\d+)\n", done.stdout).group(1))  # stdout was not on /dev/null
    lines = done.stderr.splitlines()
    assert lines == [f"line {n}" for n in range(written)]  # every line, and nothing from llama.cpp
    assert written > 10
