#!/usr/bin/env bash
# Set up (idempotent) and run the test suite. Arguments pass through to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
if [ $# -gt 0 ]; then
    exec "$root/.venv/bin/python" -m pytest "$@"  # tests/test_cluster.py skips itself outside a namespace
fi
"$root/.venv/bin/python" -m pytest --ignore=tests/test_cluster.py
# The cluster tests start Ray, whose head probes cloud metadata addresses: they run where only
# loopback exists (and skip themselves anywhere else).
if bash scripts/isolated.sh true 2>/dev/null; then
    bash scripts/isolated.sh "$root/.venv/bin/python" -m pytest tests/test_cluster.py
else
    echo "tests/test_cluster.py not run: this machine cannot make a network namespace (unshare -rn)" >&2
fi
