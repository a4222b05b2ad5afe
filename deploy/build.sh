#!/usr/bin/env bash
# Configures and builds fwd into ${FWD_BUILD_DIR:-build}. Extra arguments go to cmake configure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FWD_BUILD_DIR:-$root/build}"
generator=()
if command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
cmake --build "$build" --parallel "$(nproc)"
