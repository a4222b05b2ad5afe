#!/usr/bin/env bash
# Installs missing packages, builds fwd with its tests, and runs the whole suite with ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FWD_BUILD_DIR:-$root/build}"

"$root/deploy/install-deps.sh"
"$root/deploy/build.sh" -DFWD_BUILD_TESTS=ON

# The OpenAI Node SDK test needs the SDK from npm; it is pinned by tests/sdk/package-lock.json.
if [[ -f "$root/tests/sdk/package.json" ]] && command -v npm >/dev/null 2>&1; then
  if [[ ! -d "$root/tests/sdk/node_modules/openai" ]]; then
    (cd "$root/tests/sdk" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

cd "$build"
ctest --output-on-failure --timeout 300 -j "$(nproc)" "$@"
