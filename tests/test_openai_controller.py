"""The controller on an OpenAI-compatible server: llama-cpp-python's own server on 127.0.0.1."""

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.settings import Settings
from app.wiring import build_app
from common.cancel import CancelToken
from core.events import AnswerToken
from core.history.store import ConversationStore
from core.llm.controller import ControllerError
from core.llm.openai_controller import OpenAIController

SIMILARITY = "How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'?"
PLAN = [{"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "a cat", "text2": "a kitten"}}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(gguf):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host",
                                "127.0.0.1", "--port", str(port), "--n_ctx", "4096"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/models", timeout=2).read()
            return process, url
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("llama_cpp.server exited during start-up")
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("llama_cpp.server did not start")


@pytest.fixture(scope="module")
def server(controller_path):
    process, url = start_server(controller_path)
    yield url
    process.kill()
    process.wait()


def app_for(url, tmp_path):
    return build_app(Settings(data_dir=str(tmp_path / "data"), controller_url=url))


def test_ask_end_to_end_through_the_server_with_streaming(server, tmp_path):
    app = app_for(server, tmp_path)
    tokens = []
    app.engine.bus.subscribe(lambda e: tokens.append(e.text) if isinstance(e, AnswerToken) else None)
    turn = app.engine.ask(SIMILARITY, ConversationStore(tmp_path).create())
    assert turn.status == "done", turn.error
    assert turn.plan[0]["task"] == "sentence-similarity"
    assert turn.results[0].outputs["score"] > 0.5
    # The facts arrive at once, the checked prose after them; together they are the answer.
    assert tokens and tokens[0].startswith("Sentence similarity") and "".join(tokens).strip() == turn.answer


def test_cancel_while_the_server_streams_the_answer(server, tmp_path):
    app = app_for(server, tmp_path)
    cancel = CancelToken()
    app.engine.bus.subscribe(lambda e: cancel.cancel() if isinstance(e, AnswerToken) else None)
    start = time.perf_counter()
    turn = app.engine.ask("compare", ConversationStore(tmp_path).create(), cancel=cancel, plan=PLAN)
    assert turn.status == "cancelled"
    assert time.perf_counter() - start < 30


def test_server_stopped_mid_request_gives_a_clear_error(controller_path):
    process, url = start_server(controller_path)
    controller = OpenAIController(url)
    first_token = threading.Event()
    outcome = {}

    def generate():
        try:
            controller.chat([{"role": "user", "content": "Write a very long story about the sea."}],
                            max_tokens=3000, on_token=lambda t: first_token.set())
        except Exception as error:
            outcome["error"] = error

    worker = threading.Thread(target=generate)
    worker.start()
    assert first_token.wait(60)
    process.kill()
    process.wait()
    worker.join(60)
    assert isinstance(outcome.get("error"), ControllerError)
    assert url in str(outcome["error"])


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers every chat completion with the same streamed content."""

    content = "not a plan"
    requests = 0

    def do_GET(self):
        body = json.dumps({"data": [{"id": "fake-model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        type(self).requests += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunk = {"choices": [{"delta": {"content": self.content}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeOpenAI.requests = 0
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_invalid_plans_are_retried_then_fail_clearly(fake_server, tmp_path):
    FakeOpenAI.content = '{"tasks": [{"id": 0, "task": "teleport", "args": {}}]}'
    turn = app_for(fake_server, tmp_path).engine.ask("do something", ConversationStore(tmp_path).create())
    assert turn.status == "failed"
    assert "could not make a valid plan" in turn.error and "teleport" in turn.error
    # the step listing (a server's model lists steps; this reply lists none), the first try, and
    # one retry carrying the error
    assert FakeOpenAI.requests == 3


def test_unreachable_and_nonsense_servers_are_explained(fake_server, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ControllerError, match="cannot reach the controller server"):
        OpenAIController(closed).chat([{"role": "user", "content": "hi"}])
    with pytest.raises(ControllerError, match="must look like"):
        OpenAIController("gpu-box:8080")

    class Html(FakeOpenAI):
        def do_POST(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"data: <html>Welcome to nginx</html>\n\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ControllerError, match="not an OpenAI chat completion"):
            OpenAIController(f"http://127.0.0.1:{server.server_address[1]}/v1").chat([{"role": "user", "content": "x"}])
    finally:
        server.shutdown()


def test_only_the_configured_host_is_opened_in_the_guard():
    from core.offline import netguard

    controller = OpenAIController("http://gpu-box.internal:8080/v1", model="m")
    assert netguard._permitted("gpu-box.internal") and not netguard._permitted("other.internal")
    controller.close()
    assert not netguard._permitted("gpu-box.internal")


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


class Endless(FakeOpenAI):
    """Streams one token after another and never finishes, whatever max_tokens said."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()
        chunk = json.dumps({"choices": [{"delta": {"content": "la "}, "finish_reason": None}]})
        try:
            while True:
                self.wfile.write(f"data: {chunk}\n\n".encode())
                time.sleep(getattr(self, "pause", 0))
        except OSError:
            pass  # the client hung up, as it should


def test_a_server_that_streams_without_end_is_cut_at_the_token_cap():
    server, url = serve(Endless)
    try:
        result = OpenAIController(url).chat([{"role": "user", "content": "x"}], max_tokens=50)
    finally:
        server.shutdown()
    assert result.finish_reason == "length" and 50 <= result.completion_tokens <= 2 * 50 + 16


def test_a_reply_that_goes_on_too_long_is_stopped_with_a_message():
    class Slow(Endless):
        pause = 0.05

    server, url = serve(Slow)
    try:
        with pytest.raises(ControllerError, match="still replying after 1 s"):
            OpenAIController(url, max_reply_seconds=1).chat([{"role": "user", "content": "x"}], max_tokens=10_000)
    finally:
        server.shutdown()


def test_an_endless_line_is_refused_without_reading_it_all():
    class OneLine(FakeOpenAI):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()
            try:
                self.wfile.write(b"data: ")
                for _ in range(300):  # 300 MB if the client read it all
                    self.wfile.write(b"x" * 2**20)
            except OSError:
                pass

    import resource

    server, url = serve(OneLine)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with pytest.raises(ControllerError, match="longer than 1 MiB"):
            OpenAIController(url).chat([{"role": "user", "content": "x"}])
    finally:
        server.shutdown()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB: well under 100 MB
