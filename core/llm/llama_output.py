"""llama-cpp-python's output, kept to the logging module and away from the process's streams.

With `verbose=False`, llama-cpp-python quiets a model load by pointing file descriptors 1 and 2 at
/dev/null for the whole process while it loads (`suppress_stdout_stderr`). Everything any other
thread writes meanwhile (a warning, a log line, a crash report, a child's figure) is lost. Here
that redirection is replaced by one that does nothing, and llama.cpp's own log callback is set to
one that sends its messages to the `llama.cpp` logger (errors as errors, the rest at debug), so
quiet stays quiet without touching anyone else's output.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging

log = logging.getLogger("llama.cpp")
# ggml log levels: 1 info, 2 warn, 3 error, 4 debug, 5 continuation of the previous message.
_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.ERROR, 4: logging.DEBUG}
_installed = False
_callback = None  # kept referenced: llama.cpp holds the C pointer


class _LeaveStreamsAlone(contextlib.AbstractContextManager):
    def __init__(self, disable: bool = True) -> None:
        pass

    def __exit__(self, *exc) -> None:
        return None


def install() -> None:
    """Idempotent; call before the first model load."""
    global _installed, _callback
    if _installed:
        return
    import llama_cpp
    import llama_cpp._internals
    import llama_cpp.llama
    import llama_cpp.llama_chat_format

    for module in (llama_cpp.llama, llama_cpp._internals, llama_cpp.llama_chat_format):
        module.suppress_stdout_stderr = _LeaveStreamsAlone
    last = [logging.DEBUG]

    def forward(level: int, text: bytes, _user_data) -> None:
        last[0] = _LEVELS.get(level, last[0])
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            log.log(last[0], "%s", message)

    _callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    _installed = True
