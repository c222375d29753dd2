"""A controller on any OpenAI-compatible chat-completions server (llama.cpp's server, vLLM, Ollama).

Same interface as the in-process controller: streaming, schema-constrained plans where the server
supports it (the planner validates and retries where it does not), cancellation, timeouts, and
plain messages when the server is unreachable or answers nonsense. Standard library HTTP only.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from common.bounded import TooLarge, lines_bounded, read_bounded
from common.cancel import Cancelled, CancelToken
from core.llm.controller import ChatResult, ControllerError
from core.offline import netguard

log = logging.getLogger(__name__)

# Limits on what a server may send, so a broken or hostile one cannot hold a turn or fill memory.
MAX_LINE_BYTES = 1 << 20  # one server-sent event; a chunk is a few hundred bytes
MAX_MODELS_BYTES = 4 << 20  # the /models listing
# A server that ignores max_tokens is cut off this far past it (pieces are tokens or a few of them).
TOKEN_SLACK = 2.0
MAX_REPLY_SECONDS = 600.0  # one reply, however steadily it streams


class OpenAIController:
    def __init__(self, base_url: str, model: str = "", api_key: str = "", timeout: float = 120.0,
                 connect_timeout: float = 10.0, max_reply_seconds: float = MAX_REPLY_SECONDS) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ControllerError(f"controller URL must look like http://host:port/v1, got '{base_url}'")
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.api_key = api_key
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_reply_seconds = max_reply_seconds
        self._model = model
        # The configured server is the one outside host this controller may reach; nothing else.
        self._release = netguard.allow(self.host)

    @property
    def name(self) -> str:
        return f"{self.model} at {self.base_url}"

    @property
    def model(self) -> str:
        if not self._model:
            self._model = self._first_model()
        return self._model

    def load(self, stage: str = "general") -> None:
        """Check the server answers (the window calls this at start-up, in the background)."""
        _ = self.model

    def close(self) -> None:
        self._release()

    # -- HTTP ------------------------------------------------------------------------------------

    def _request(self, path: str, body: dict | None = None) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        return urllib.request.Request(self.base_url + path, data=data, headers=headers,
                                      method="POST" if body is not None else "GET")

    def _open(self, request: urllib.request.Request, timeout: float | None = None):
        """Open a request; `timeout` bounds the connection and then every wait for more data."""
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.connect_timeout)
        except urllib.error.HTTPError as error:
            detail = error.read(300).decode("utf-8", "replace").strip()
            raise ControllerError(f"the controller server at {self.base_url} refused the request "
                                  f"(HTTP {error.code}): {detail}") from error
        except (urllib.error.URLError, socket.timeout, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise ControllerError(f"cannot reach the controller server at {self.base_url}: {reason}") from error

    def _first_model(self) -> str:
        with self._open(self._request("/models")) as response:
            try:
                models = json.loads(read_bounded(response, MAX_MODELS_BYTES, f"{self.base_url}/models"))["data"]
                return models[0]["id"]
            except TooLarge as error:
                raise ControllerError(str(error)) from None
            except (ValueError, KeyError, IndexError, TypeError) as error:
                raise ControllerError(f"{self.base_url}/models did not list any model") from error

    # -- chat ------------------------------------------------------------------------------------

    def chat(self, messages, *, schema=None, max_tokens=512, on_token=None, cancel: CancelToken | None = None,
             stage: str = "general") -> ChatResult:
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": max_tokens,
                "stream": True}
        if schema is not None:
            # llama.cpp's server reads "schema" beside json_object; OpenAI and vLLM read json_schema.
            body["response_format"] = {"type": "json_object", "schema": schema}
        start = time.perf_counter()
        response = self._open(self._request("/chat/completions", body), timeout=self.timeout)
        closed = threading.Event()

        def stop() -> None:
            closed.set()
            response.close()  # unblocks a read waiting on the socket

        if cancel is not None:
            cancel.on_cancel(stop)
        parts, finish, first_token = [], "stop", 0.0
        most_pieces = int(max_tokens * TOKEN_SLACK) + 16
        try:
            for piece, reason in _events(response, self.base_url):
                if piece:
                    first_token = first_token or time.perf_counter() - start
                    parts.append(piece)
                    if on_token is not None:
                        on_token(piece)
                if reason:
                    finish = reason
                if cancel is not None and cancel.cancelled:
                    raise Cancelled("cancelled")
                if len(parts) >= most_pieces:
                    log.warning("%s kept sending past max_tokens=%d; reply cut there", self.base_url, max_tokens)
                    finish = "length"
                    break
                if time.perf_counter() - start > self.max_reply_seconds:
                    raise ControllerError(f"the controller server at {self.base_url} was still replying after "
                                          f"{self.max_reply_seconds:.0f} s; stopped it")
        except TooLarge as error:
            raise ControllerError(f"the controller server at {self.base_url} sent {error}; stopped it") from None
        except ControllerError:
            if closed.is_set() or (cancel is not None and cancel.cancelled):  # we closed the stream
                raise Cancelled("cancelled") from None
            raise
        except (OSError, ValueError) as error:
            if closed.is_set() or (cancel is not None and cancel.cancelled):
                raise Cancelled("cancelled") from error
            if isinstance(error, socket.timeout):
                raise ControllerError(f"the controller server at {self.base_url} stopped answering "
                                      f"(no data for {self.timeout:.0f} s)") from error
            raise ControllerError(f"the connection to the controller server at {self.base_url} broke: {error}") from error
        finally:
            response.close()
        if cancel is not None and cancel.cancelled:
            raise Cancelled("cancelled")
        return ChatResult("".join(parts), "length" if finish == "length" else "stop",
                          completion_tokens=len(parts), first_token_s=first_token,
                          seconds=time.perf_counter() - start)


def _events(response, where: str):
    """(content piece, finish reason) from a server-sent-events chat stream."""
    saw_data = finished = False
    for raw in lines_bounded(response, MAX_LINE_BYTES, "a line"):
        line = raw.decode("utf-8", "replace").strip()
        if not line or line.startswith(":") or not line.startswith("data:"):
            continue
        data = line[len("data:"):].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
            choice = chunk["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise ControllerError(f"the controller server at {where} sent something that is not an OpenAI chat "
                                  f"completion: {data[:120]}") from error
        saw_data = True
        finished = finished or bool(choice.get("finish_reason"))
        delta = choice.get("delta") or {}
        yield delta.get("content") or "", choice.get("finish_reason")
    if not saw_data:
        raise ControllerError(f"the controller server at {where} ended the reply without sending anything")
    if not finished:  # no [DONE] and no finish reason: the server went away mid-reply
        raise ControllerError(f"the controller server at {where} closed the connection before finishing "
                              "its reply")
