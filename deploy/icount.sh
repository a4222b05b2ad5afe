#!/usr/bin/env bash
# Instructions per proxied chat request of fwd-dataplane, counted by callgrind: a number that
# does not drift with the machine's load, for comparing two builds (or two configs) where the
# CPU time of deploy/bench.sh is too noisy (this 2-vCPU VM: ±20 % between runs).
#
#   deploy/icount.sh [BUILD_DIR] [-- KEY_CREATE_FLAGS...]
#   deploy/icount.sh build-bench                                  # no limits
#   deploy/icount.sh build-bench -- --rate '1000000000/minute'    # a key with a request rate
#   FWD_ICOUNT_REDIS=1 deploy/icount.sh build-bench -- --rate '1000000000/minute'
#                                               # the same rate counted in a local redis-server
#   FWD_ICOUNT_DP_FLAGS='--records off' deploy/icount.sh build-bench
#                                               # extra flags for the data plane
#
# Starts the build's fake upstream, control plane and a one-worker data plane under valgrind on
# 127.0.0.1 (ports FWD_ICOUNT_PORT_BASE..+4, default 18400), sends 200 requests to warm up, zeroes
# the counters, sends FWD_ICOUNT_REQUESTS (default 1000) more on one keep-alive connection, and
# prints the instructions per request (FWD_ICOUNT_OUT=DIR keeps the callgrind profiles for
# callgrind_annotate). Needs valgrind, curl and jq (apt-get install valgrind).
# Caveat: under valgrind simdjson runs its portable kernel, so JSON parsing counts more
# instructions than it costs on a CPU with SIMD.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
b="$root/build-bench"
if (($#)) && [[ "$1" != -- ]]; then b="$(cd "$1" && pwd)"; shift; fi
[[ "${1:-}" != -- ]] || shift
for tool in valgrind callgrind_control curl jq; do
  command -v "$tool" >/dev/null || { echo "icount: $tool is missing (apt-get install valgrind curl jq)" >&2; exit 2; }
done
for bin in tests/fakes/fake_upstream controlplane/fwd-controlplane cli/fwdctl dataplane/fwd-dataplane; do
  [[ -x "$b/$bin" ]] || { echo "icount: no $b/$bin; build it first" >&2; exit 2; }
done
base="${FWD_ICOUNT_PORT_BASE:-18400}"
n="${FWD_ICOUNT_REQUESTS:-1000}"
w="$(mktemp -d)"
up=$base cp=$((base + 1)) dp=$((base + 2)) adm=$((base + 3))
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$w"
}
trap cleanup EXIT
"$b/tests/fakes/fake_upstream" --listen "127.0.0.1:$up" --threads 1 >/dev/null 2>&1 & pids+=($!)
"$b/controlplane/fwd-controlplane" --listen "127.0.0.1:$cp" --data-dir "$w/cp" --log-level warn \
  >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 100); do [[ -s "$w/cp/admin.token" ]] && break; sleep 0.1; done
export FWD_ADMIN_TOKEN="$(<"$w/cp/admin.token")"
ctl() { "$b/cli/fwdctl" --server "127.0.0.1:$cp" "$@"; }
for _ in $(seq 50); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done
ctl upstream add fake --base-url "http://127.0.0.1:$up/v1" --model 'gpt-*' >/dev/null
key="$(ctl -o json key create bench "$@" | jq -r .key)"
if [[ "${FWD_ICOUNT_REDIS:-0}" == 1 ]]; then
  redis-server --port $((base + 4)) --bind 127.0.0.1 --dir "$w" --save '' --appendonly no \
    >/dev/null 2>&1 & pids+=($!)
  ctl settings set redis_url "redis://127.0.0.1:$((base + 4))/0" >/dev/null
fi
valgrind --tool=callgrind --callgrind-out-file="$w/cg.out" "$b/dataplane/fwd-dataplane" \
  --control-plane "127.0.0.1:$cp" --node-token-file "$w/cp/node.token" \
  --listen "127.0.0.1:$dp" --admin-listen "127.0.0.1:$adm" --state-dir "$w/state" \
  --node-id icount --workers 1 --log-level warn ${FWD_ICOUNT_DP_FLAGS:-} >"$w/dp.log" 2>&1 & vpid=$!
pids+=($vpid)
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$adm/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
send() {  # N requests on one connection
  local args=() i
  for ((i = 0; i < $1; i++)); do args+=(-o /dev/null "http://127.0.0.1:$dp/v1/chat/completions"); done
  curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}' "${args[@]}"
}
send 200
callgrind_control -z "$vpid" >/dev/null 2>&1
send "$n"
callgrind_control -d "$vpid" >/dev/null 2>&1
sleep 1
ir="$(grep -hE '^(summary|totals):' "$w"/cg.out.* | head -1 | awk '{print $2}')"
[[ -z "${FWD_ICOUNT_OUT:-}" ]] || { mkdir -p "$FWD_ICOUNT_OUT" && cp "$w"/cg.out.* "$FWD_ICOUNT_OUT/"; }
echo "$((ir / n)) instructions per request ($n requests, $b${*:+, key: $*}$([[ "${FWD_ICOUNT_REDIS:-0}" != 1 ]] || echo ', counted in Redis')${FWD_ICOUNT_DP_FLAGS:+, data plane: $FWD_ICOUNT_DP_FLAGS})"
