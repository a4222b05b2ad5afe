#!/usr/bin/env bash
# Installs missing packages, builds fwd with its tests, and runs the whole suite with ctest.
#
#   deploy/test.sh              the normal (Release) build in ${FWD_BUILD_DIR:-build}
#   deploy/test.sh --sanitize   an AddressSanitizer + UndefinedBehaviorSanitizer build of the same
#                               suite (the binaries the integration tests start included) in
#                               ${FWD_SANITIZE_BUILD_DIR:-build-sanitize}; any report fails
# Other arguments go to ctest (e.g. -R Forwarding, -L integration).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sanitize=0
if [[ "${1:-}" == "--sanitize" ]]; then
  sanitize=1
  shift
fi

"$root/deploy/install-deps.sh"
if ((sanitize)); then
  build="${FWD_SANITIZE_BUILD_DIR:-$root/build-sanitize}"
  # -O1 keeps stack traces readable and the suite fast enough; every library is instrumented.
  # -g1 (functions and lines, no variables) is all a sanitizer report's stack needs, and
  # compiles about 15 % faster than -g.
  FWD_BUILD_DIR="$build" "$root/deploy/build.sh" -DFWD_BUILD_TESTS=ON -DFWD_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1"
  # Every process of the run (the binaries the integration tests start included) writes its
  # reports to files here; any file at the end fails the run, even when the test that started
  # the process passed.
  reports="$build/sanitizer-reports"
  rm -rf "$reports"
  mkdir -p "$reports"
  export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:log_path=$reports/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  export LSAN_OPTIONS="suppressions=$root/tests/sanitizer/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
else
  build="${FWD_BUILD_DIR:-$root/build}"
  "$root/deploy/build.sh" -DFWD_BUILD_TESTS=ON
fi

# The OpenAI Node SDK test needs the SDK from npm; it is pinned by tests/sdk/package-lock.json.
if [[ -f "$root/tests/sdk/package.json" ]] && command -v npm >/dev/null 2>&1; then
  if [[ ! -d "$root/tests/sdk/node_modules/openai" ]]; then
    (cd "$root/tests/sdk" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

cd "$build"
status=0
ctest --output-on-failure --timeout 300 -j "$(nproc)" "$@" || status=$?
if ((sanitize)) && compgen -G "$reports/*" >/dev/null; then
  echo "test: sanitizer reports (deploy/test.sh --sanitize):" >&2
  cat "$reports"/* >&2
  status=1
fi
exit "$status"
