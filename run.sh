#!/usr/bin/env bash
# Set up (idempotent) and start the app. Arguments pass through: ./run.sh ask "..." --json
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$root/scripts/setup.sh"
exec "$root/.venv/bin/python" "$root/main.py" "$@"
