#!/usr/bin/env bash
# Fuzzes one of fwd's parsers with libFuzzer (clang, ASan + UBSan), starting from its committed
# seed corpus. See docs/security.md ("Fuzzing").
#
#   deploy/fuzz.sh TARGET [SECONDS]   fuzz TARGET for SECONDS (default 300); new inputs are kept
#                                     in build-fuzz/corpus/TARGET, crashers in
#                                     build-fuzz/artifacts/TARGET/
#   deploy/fuzz.sh all [SECONDS]      every target in turn, SECONDS each
#   deploy/fuzz.sh --merge TARGET     fold build-fuzz/corpus/TARGET into tests/fuzz/corpus/TARGET,
#                                     keeping only inputs that add coverage
#   deploy/fuzz.sh --list             the targets
#
# Environment: FWD_FUZZ_BUILD_DIR (default build-fuzz), FWD_FUZZ_JOBS (parallel fuzzing
# processes, default 1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FWD_FUZZ_BUILD_DIR:-$root/build-fuzz}"
targets=(client_request upstream_head chunked_scanner sse_parser body_inspect snapshot duration
  cli_args json_edits stream_convert provider_translate)
usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

merge=0
case "${1:-}" in
  --list) printf '%s\n' "${targets[@]}"; exit 0 ;;
  --merge) merge=1; shift ;;
  -h|--help|"") usage; [[ -n "${1:-}" ]]; exit $? ;;
esac
target="${1:?target}"
seconds="${2:-300}"
if [[ "$target" != all ]] && [[ ! " ${targets[*]} " == *" $target "* ]]; then
  echo "fuzz: unknown target $target; one of: ${targets[*]} (or all)" >&2
  exit 2
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a whole number" >&2; exit 2; }

"$root/deploy/install-deps.sh"
missing=()
for p in clang libfuzzer-14-dev libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "fuzz: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) != 0 ]] && SUDO="sudo"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" "${generator[@]}" -DFWD_FUZZ=ON \
    -DFWD_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi

run_one() {
  local t="$1"
  cmake --build "$build" --parallel "$(nproc)" --target "fuzz_$t" >/dev/null
  local bin="$build/tests/fuzz/fuzz_$t" seeds="$root/tests/fuzz/corpus/$t"
  local work="$build/corpus/$t" artifacts="$build/artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  if ((merge)); then
    "$bin" -merge=1 "$seeds" "$work"
    echo "fuzz: $t: $(ls "$seeds" | wc -l) inputs in $seeds (commit the new ones)"
    return
  fi
  echo "fuzz: $t for ${seconds}s (corpus $work, seeds $seeds)" >&2
  local parallel=()
  if ((${FWD_FUZZ_JOBS:-1} > 1)); then
    # Forked workers log to fuzz-N.log in the current directory: keep those in the build dir.
    parallel=(-jobs="$FWD_FUZZ_JOBS" -workers="$FWD_FUZZ_JOBS")
    cd "$build"
  fi
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "${parallel[@]}" -artifact_prefix="$artifacts" "$work" "$seeds"
}

if [[ "$target" == all ]]; then
  for t in "${targets[@]}"; do run_one "$t"; done
else
  run_one "$target"
fi
