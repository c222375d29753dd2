#!/usr/bin/env bash
# Run a command in a network namespace of its own, with only a loopback interface: nothing it
# does can reach another machine. The cluster tests run this way, because Ray's head process
# probes cloud metadata addresses when it starts.
#     bash scripts/isolated.sh COMMAND [ARGS...]
set -euo pipefail
exec unshare -rn sh -c 'PATH="$PATH:/usr/sbin:/sbin"; ip link set lo up && exec "$0" "$@"' "$@"
