#!/usr/bin/env bash
# fwd benchmarks: fwd next to its neighbours (nginx, HAProxy, Portkey's Node gateway) and the
# fake upstream alone, on this machine, over loopback, in one bounded run. See README.md
# ("Benchmarks") and docs/benchmarks.md (the last full run).
#
#   deploy/bench.sh                 everything (about 15 minutes); tables to stdout and docs/benchmarks.md
#   deploy/bench.sh --quick         short runs, a smoke test (about 2.5 minutes)
#   deploy/bench.sh --only a,c      only some workloads: a throughput, b streams and event
#                                   delay, c latency, d config propagation, e memory
#   deploy/bench.sh --skip-portkey  do not install or run Portkey's gateway
#   deploy/bench.sh --out FILE      write the report to FILE instead (`--out -`: stdout only)
#   deploy/bench.sh --wait-quiet S  before each measured run, wait until nothing else uses the
#                                   CPUs, spending at most S seconds on that in the whole run
#   deploy/bench.sh --policies      (a) and (b) also measure fwd-pol: fwd under a control plane
#                                   of its own that configures IP rules, all request edits and
#                                   an answer prefix (what the policies cost, paired with fwd)
#   deploy/bench.sh --records       (a) and (b) also measure fwd-norec: fwd with --records off
#                                   (what request records cost, paired with fwd, which sends
#                                   a record of every request to its control plane)
#   deploy/bench.sh --convert       (b) also measures fwd-conv: fwd under a control plane of
#                                   its own whose upstream has --stream-mode stream, asked for
#                                   the same 50-event answers without a stream (it assembles each
#                                   into one chat.completion): what stream conversion costs,
#                                   paired with fwd relaying the stream
#   deploy/bench.sh --limits        (a) also measures fwd-lim: fwd under a control plane of its
#                                   own whose key has a request rate, counted in memory, and
#                                   fwd-redis: the same rate counted in a local redis-server
#                                   (what a limit costs, each paired with fwd); (c) measures
#                                   their latency, with fwd once more (fwd-lr), at half of
#                                   fwd-redis's own peak (Redis shares core 0 with the load)
#
# Installs what it lacks: Debian's wrk, nginx-light (or nginx), haproxy, libbenchmark-dev (the
# bench targets' CMake needs it) and fwd's build deps; Portkey's gateway from npm into
# build-bench/portkey (never into the repository). Builds only the needed targets in
# build-bench (-DFWD_BUILD_BENCH=ON -DFWD_BUILD_TESTS=ON: the fake upstream lives in tests/).
#
# Pinning (2 cores): the proxy under test alone on CPU 1 (taskset -c 1); the load generator (wrk
# or fwd_loadgen) and the fake upstream on CPU 0. CPU time per request is the proxy's
# utime+stime from /proc/PID/stat (nginx: master+worker) over the measured run, divided by the
# requests wrk completed. Every process it starts binds 127.0.0.1 and is stopped on exit.
#
# Environment: FWD_BENCH_BUILD_DIR (default build-bench), FWD_BENCH_PORT_BASE (default 18100:
# ports BASE..BASE+32 must be free), FWD_BENCH_PORTKEY_VERSION (default 1.15.2),
# FWD_BENCH_BASE_BUILD_DIR (a build-bench of another fwd commit, e.g. from a git worktree: (a)
# and (b) also measure fwd-base, that commit's control plane and data plane, paired with fwd).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=0
only="a,b,c,d,e"
skip_portkey=0
policies=0
limits=0
records=0
convert=0
wait_quiet_s=0
out="$root/docs/benchmarks.md"
usage() { sed -n '2,42p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --only) only="${2:?--only needs a list such as a,b}"; shift ;;
    --only=*) only="${1#--only=}" ;;
    --skip-portkey) skip_portkey=1 ;;
    --policies) policies=1 ;;
    --limits) limits=1 ;;
    --records) records=1 ;;
    --convert) convert=1 ;;
    --wait-quiet) wait_quiet_s="${2:?--wait-quiet needs seconds}"; shift ;;
    --wait-quiet=*) wait_quiet_s="${1#--wait-quiet=}" ;;
    --out) out="${2:?--out needs a file}"; shift ;;
    --out=*) out="${1#--out=}" ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for w in ${only//,/ }; do
  [[ "$w" =~ ^[a-e]$ ]] || { echo "bench: --only takes letters a..e, got $w" >&2; exit 2; }
done
want() { [[ ",$only," == *",$1,"* ]]; }

build="${FWD_BENCH_BUILD_DIR:-$root/build-bench}"
base="${FWD_BENCH_PORT_BASE:-18100}"
portkey_version="${FWD_BENCH_PORTKEY_VERSION:-1.15.2}"

# dur/warm: one wrk run; tp_rounds: how many, each visiting every target in turn (a and b).
if ((quick)); then
  dur=3; warm=1; tp_rounds=1; lat_dur=3; lat_rounds=1; writes=10; streams=1000
else
  dur=3; warm=1; tp_rounds=5; lat_dur=6; lat_rounds=5; writes=50; streams=5000
fi
conns=64
ev_streams=32

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- dependencies and build
install_debs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

FWD_WITH_NODE=$((1 - skip_portkey)) "$root/deploy/install-deps.sh"
nginx_pkg=nginx-light
apt-cache show nginx-light >/dev/null 2>&1 || nginx_pkg=nginx
if ! command -v nginx >/dev/null; then install_debs "$nginx_pkg"; fi
install_debs wrk haproxy libbenchmark-dev
# Debian's packages may have started system-wide nginx/haproxy services; this script never uses
# or stops them (it runs its own instances on its own ports).

if ! grep -q '^FWD_BUILD_BENCH:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null ||
   ! grep -q '^FWD_BUILD_TESTS:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  say "configuring $build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DFWD_BUILD_BENCH=ON -DFWD_BUILD_TESTS=ON >/dev/null
fi
# What is measured: the commit, and whether the sources of the binaries differ from it.
git_rev="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
git diff --quiet HEAD -- CMakeLists.txt proto common controlplane dataplane cli tests/fakes \
  tests/bench 2>/dev/null || git_rev+=" + uncommitted changes to the sources"
say "building fwd, the fake upstream and the load tools in $build (ccache helps on reruns)"
cmake --build "$build" -j"$(nproc)" --target fwd-controlplane fwd-dataplane fwdctl fake_upstream \
  fwd_loadgen fwd_propagation_bench fwd_tcp_relay fwd_hiccup >/dev/null || die "build failed: cmake --build $build"

cp_bin="$build/controlplane/fwd-controlplane"
dp_bin="$build/dataplane/fwd-dataplane"
ctl_bin="$build/cli/fwdctl"
fake_bin="$build/tests/fakes/fake_upstream"
loadgen="$build/tests/bench/fwd_loadgen"
propagation="$build/tests/bench/fwd_propagation_bench"
relay_bin="$build/tests/bench/fwd_tcp_relay"
hiccup="$build/tests/bench/fwd_hiccup"

portkey_dir="$build/portkey"
portkey_js="$portkey_dir/node_modules/@portkey-ai/gateway/build/start-server.js"
portkey_skip=""
if ((skip_portkey)); then
  portkey_skip="--skip-portkey"
elif ! want a && ! want b && ! want c; then
  portkey_skip="not needed for --only $only"
elif ! command -v node >/dev/null; then
  portkey_skip="node is not installed"
else
  installed_version="$(node -p "require('$portkey_dir/node_modules/@portkey-ai/gateway/package.json').version" 2>/dev/null || true)"
  if [[ "$installed_version" != "$portkey_version" ]]; then
    say "installing @portkey-ai/gateway@$portkey_version from npm into $portkey_dir"
    mkdir -p "$portkey_dir"
    [[ -f "$portkey_dir/package.json" ]] || echo '{"name":"fwd-bench-portkey","private":true}' >"$portkey_dir/package.json"
    if ! npm install --prefix "$portkey_dir" --no-audit --no-fund --loglevel=error \
        "@portkey-ai/gateway@$portkey_version" >"$portkey_dir/npm-install.log" 2>&1; then
      portkey_skip="npm install @portkey-ai/gateway@$portkey_version failed (see $portkey_dir/npm-install.log)"
    fi
  fi
  [[ -n "$portkey_skip" || -f "$portkey_js" ]] || portkey_skip="$portkey_js not found after npm install"
fi

# ---------------------------------------------------------------- processes
work="$(mktemp -d /tmp/fwd-bench.XXXXXX)"
chmod 0755 "$work"   # nginx's worker (not root) creates its temp dirs below it
started=()   # every pid this script started, stopped in reverse order on exit
cleanup() {
  local rc=$? i pid
  trap - EXIT INT TERM
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    pid="${started[i]}"
    kill -TERM "$pid" 2>/dev/null || true
  done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for pid in "${started[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${started[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((rc != 0)); then
    say "logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CPUS CMD...: runs CMD in the background (pinned to CPUS unless empty), stdout and
# stderr to $work/NAME.log; its pid lands in the variable pid_NAME.
start() {
  local name="$1" cpus="$2"
  shift 2
  if [[ -n "$cpus" ]]; then
    taskset -c "$cpus" "$@" >"$work/$name.log" 2>&1 &
  else
    "$@" >"$work/$name.log" 2>&1 &
  fi
  local pid=$!
  started+=("$pid")
  printf -v "pid_${name//-/_}" '%s' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  local port="$1" name="$2" pid="$3" i
  for ((i = 0; i < 200; i++)); do
    port_open "$port" && return 0
    kill -0 "$pid" 2>/dev/null || die "$name exited: $(tail -5 "$work/$name.log" 2>/dev/null)"
    sleep 0.05
  done
  die "$name did not listen on 127.0.0.1:$port within 10 s (log: $work/$name.log)"
}

for ((p = base; p < base + 28; p++)); do
  port_open "$p" && die "port $p is in use; set FWD_BENCH_PORT_BASE to a free range of 28 ports"
done
up_port=$base          # the fake upstream
nginx_port=$((base + 1))
haproxy_port=$((base + 2))
fwd_port=$((base + 3))
fwd_admin=$((base + 4))
cp_port=$((base + 5))
portkey_port=$((base + 6))
w2_port=$((base + 7))
w2_admin=$((base + 8))
dpb_port=$((base + 9))
dpb_admin=$((base + 10))
dpc_port=$((base + 11))
dpc_admin=$((base + 12))
haproxy_nd_port=$((base + 13))
relay_port=$((base + 14))
cpb_port=$((base + 15))       # fwd-base: another commit's control plane and data plane
fwdb_port=$((base + 16))
fwdb_admin=$((base + 17))
cpp_port=$((base + 18))       # fwd-pol: fwd with the policies configured
fwdp_port=$((base + 19))
fwdp_admin=$((base + 20))
cpl_port=$((base + 21))       # fwd-lim: fwd whose key has a request rate
fwdl_port=$((base + 22))
fwdl_admin=$((base + 23))
cpr_port=$((base + 24))       # fwd-redis: fwd whose key's request rate is counted in Redis
fwdr_port=$((base + 25))
fwdr_admin=$((base + 26))
redis_port=$((base + 27))
fwdn_port=$((base + 28))      # fwd-norec: fwd with --records off
fwdn_admin=$((base + 29))
cpv_port=$((base + 30))       # fwd-conv: fwd whose upstream always streams (--stream-mode)
fwdv_port=$((base + 31))
fwdv_admin=$((base + 32))

# 5,000 held streams need ~10,000 descriptors in the proxy (client + upstream side).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if want e && (($(ulimit -n) < 2 * streams + 1000)); then
  streams=$((($(ulimit -n) - 1000) / 2))
  say "open-file limit $(ulimit -n): memory test uses $streams streams"
fi

say "work dir $work; ports $base..$((base + 32)) on 127.0.0.1"
start upstream 0 "$fake_bin" --listen "127.0.0.1:$up_port" --name bench --threads 1
wait_port "$up_port" upstream "$pid_upstream"

# fwd: a control plane (CPU 0, idle during runs), an upstream for gpt-* and a key.
start controlplane 0 "$cp_bin" --listen "127.0.0.1:$cp_port" --data-dir "$work/cp" --log-level warn
wait_port "$cp_port" controlplane "$pid_controlplane"
for ((i = 0; i < 100; i++)); do [[ -s "$work/cp/admin.token" ]] && break; sleep 0.05; done
export FWD_ADMIN_TOKEN="$(<"$work/cp/admin.token")"
ctl() { "$ctl_bin" --server "127.0.0.1:$cp_port" "$@"; }
ctl upstream add fake --base-url "http://127.0.0.1:$up_port/v1" --model 'gpt-*' >/dev/null
fwd_key="$(ctl -o json key create bench | jq -r .key)"
[[ -n "$fwd_key" && "$fwd_key" != null ]] || die "fwdctl key create returned no key"
# Another control plane with its upstream and key: CP_BIN CTL_BIN NAME PORT -> sets ctl2_key.
second_cp() {
  local cp="$1" ctlbin="$2" name="$3" port="$4" i
  start "$name" 0 "$cp" --listen "127.0.0.1:$port" --data-dir "$work/$name" --log-level warn
  wait_port "$port" "$name" "$(eval echo "\$pid_${name//-/_}")"
  for ((i = 0; i < 100; i++)); do [[ -s "$work/$name/admin.token" ]] && break; sleep 0.05; done
  FWD_ADMIN_TOKEN="$(<"$work/$name/admin.token")" "$ctlbin" --server "127.0.0.1:$port" \
    upstream add fake --base-url "http://127.0.0.1:$up_port/v1" --model 'gpt-*' >/dev/null
  ctl2_key="$(FWD_ADMIN_TOKEN="$(<"$work/$name/admin.token")" "$ctlbin" --server "127.0.0.1:$port" \
    -o json key create bench | jq -r .key)"
  [[ -n "$ctl2_key" && "$ctl2_key" != null ]] || die "fwdctl key create returned no key ($name)"
}
base_build="${FWD_BENCH_BASE_BUILD_DIR:-}"
if [[ -n "$base_build" ]] && { want a || want b; }; then
  [[ -x "$base_build/dataplane/fwd-dataplane" ]] || die "no fwd-dataplane in $base_build"
  second_cp "$base_build/controlplane/fwd-controlplane" "$base_build/cli/fwdctl" cp-base "$cpb_port"
  base_key="$ctl2_key"
  base_rev="$(git -C "$(dirname "$base_build")" rev-parse --short HEAD 2>/dev/null || echo '?')"
fi
if ((policies)) && { want a || want b; }; then
  second_cp "$cp_bin" "$ctl_bin" cp-pol "$cpp_port"
  pol_key="$ctl2_key"
  # Every policy of the request path that issue 15 added, on every request: global and key IP
  # rules (with a trusted proxy block, so X-Forwarded-For is considered), all four request edits
  # and an answer prefix (the relay reads each answer's JSON, or each stream's events up to the
  # first content delta).
  pctl() { FWD_ADMIN_TOKEN="$(<"$work/cp-pol/admin.token")" "$ctl_bin" --server "127.0.0.1:$cpp_port" "$@"; }
  pctl ip trust 192.168.0.0/16 >/dev/null
  pctl ip allow 127.0.0.0/8 >/dev/null
  pctl ip deny 10.0.0.0/8 >/dev/null
  pctl key update bench --allow-ip 127.0.0.1/32 --deny-ip 127.0.0.2/32 >/dev/null
  pctl upstream update fake --max-tokens-cap 4096 --stop END --drop-empty-messages --strip-think \
    --answer-prefix '[fwd] ' >/dev/null
fi

if ((convert)) && want b; then
  second_cp "$cp_bin" "$ctl_bin" cp-conv "$cpv_port"
  conv_key="$ctl2_key"
  FWD_ADMIN_TOKEN="$(<"$work/cp-conv/admin.token")" "$ctl_bin" --server "127.0.0.1:$cpv_port" \
    upstream update fake --stream-mode stream >/dev/null
fi

if ((limits)) && { want a || want c; }; then
  second_cp "$cp_bin" "$ctl_bin" cp-lim "$cpl_port"
  lim_key="$ctl2_key"
  # A rate no run reaches, so every request is counted and admitted: two windows, as operators
  # set them (per minute and per hour).
  FWD_ADMIN_TOKEN="$(<"$work/cp-lim/admin.token")" "$ctl_bin" --server "127.0.0.1:$cpl_port" \
    key update bench --rate '1000000000/minute;1000000000/hour' >/dev/null
  # The same limit counted in Redis (Debian's redis-server, on CPU 0 with the load generator:
  # its own work is not fwd's CPU, the round trip is in fwd's latency).
  command -v redis-server >/dev/null || die "redis-server is missing (deploy/install-deps.sh)"
  mkdir -p "$work/redis"
  start redis 0 redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" \
    --save '' --appendonly no
  wait_port "$redis_port" redis "$pid_redis"
  second_cp "$cp_bin" "$ctl_bin" cp-redis "$cpr_port"
  redis_key="$ctl2_key"
  rctl() { FWD_ADMIN_TOKEN="$(<"$work/cp-redis/admin.token")" "$ctl_bin" --server "127.0.0.1:$cpr_port" "$@"; }
  rctl key update bench --rate '1000000000/minute;1000000000/hour' >/dev/null
  rctl settings set redis_url "redis://127.0.0.1:$redis_port/0" >/dev/null
fi

start_dp() {  # NAME CPUS PORT ADMIN WORKERS [DP_BIN CP_PORT CP_DIR [FLAGS...]]
  mkdir -p "$work/state-$1"
  start "$1" "$2" "${6:-$dp_bin}" --control-plane "127.0.0.1:${7:-$cp_port}" \
    --node-token-file "$work/${8:-cp}/node.token" --listen "127.0.0.1:$3" \
    --admin-listen "127.0.0.1:$4" --state-dir "$work/state-$1" --node-id "$1" --workers "$5" \
    --log-level warn "${@:9}"
}
wait_ready() {  # ADMIN_PORT NAME
  local i
  for ((i = 0; i < 200; i++)); do
    curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  die "$2 not ready within 10 s (log: $work/$2.log)"
}
mkdir -p "$work/state-fwd" "$work/state-fwd-w2" "$work/state-dp-b" "$work/state-dp-c"
start_dp fwd 1 "$fwd_port" "$fwd_admin" 1
wait_ready "$fwd_admin" fwd
if want a || want b; then
  start_dp fwd-w2 "" "$w2_port" "$w2_admin" 2
  wait_ready "$w2_admin" fwd-w2
  if [[ -n "$base_build" ]]; then
    start_dp fwd-base 1 "$fwdb_port" "$fwdb_admin" 1 "$base_build/dataplane/fwd-dataplane" \
      "$cpb_port" cp-base
    wait_ready "$fwdb_admin" fwd-base
  fi
  if ((policies)); then
    start_dp fwd-pol 1 "$fwdp_port" "$fwdp_admin" 1 "$dp_bin" "$cpp_port" cp-pol
    wait_ready "$fwdp_admin" fwd-pol
  fi
  if ((records)); then
    start_dp fwd-norec 1 "$fwdn_port" "$fwdn_admin" 1 "$dp_bin" "$cp_port" cp --records off
    wait_ready "$fwdn_admin" fwd-norec
  fi
fi
if ((convert)) && want b; then
  start_dp fwd-conv 1 "$fwdv_port" "$fwdv_admin" 1 "$dp_bin" "$cpv_port" cp-conv
  wait_ready "$fwdv_admin" fwd-conv
fi
if ((limits)) && { want a || want c; }; then
  start_dp fwd-lim 1 "$fwdl_port" "$fwdl_admin" 1 "$dp_bin" "$cpl_port" cp-lim
  wait_ready "$fwdl_admin" fwd-lim
  start_dp fwd-redis 1 "$fwdr_port" "$fwdr_admin" 1 "$dp_bin" "$cpr_port" cp-redis
  wait_ready "$fwdr_admin" fwd-redis
fi
if want d || want e; then
  start_dp dp-b "" "$dpb_port" "$dpb_admin" 1
  start_dp dp-c "" "$dpc_port" "$dpc_admin" 1
  wait_ready "$dpb_admin" dp-b
  wait_ready "$dpc_admin" dp-c
fi

# nginx and HAProxy from the templates in deploy/bench/.
fill() {  # TEMPLATE PORT [EXTRA_OPTION]
  sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$2|g" -e "s|@UPSTREAM_PORT@|$up_port|g" \
    -e "s|@EXTRA_OPTION@|${3:-}|g" "$1"
}
if want a || want b || want c || want e; then
  mkdir -p "$work/nginx-tmp"
  fill deploy/bench/nginx.conf.in "$nginx_port" >"$work/nginx.conf"
  start nginx 1 nginx -e "$work/nginx-error.log" -p "$work" -c "$work/nginx.conf"
  wait_port "$nginx_port" nginx "$pid_nginx"
fi
if want a || want b || want c; then
  fill deploy/bench/haproxy.cfg.in "$haproxy_port" >"$work/haproxy.cfg"
  start haproxy 1 haproxy -db -f "$work/haproxy.cfg"
  wait_port "$haproxy_port" haproxy "$pid_haproxy"
fi
if want b; then
  # The same HAProxy with `option http-no-delay`: without it HAProxy sends a response that is
  # not finished with MSG_MORE, and the kernel holds small writes (one SSE event) until the
  # client acknowledges earlier data or ~200 ms pass. (b) measures both, and how late events are.
  fill deploy/bench/haproxy.cfg.in "$haproxy_nd_port" "option http-no-delay" >"$work/haproxy-nd.cfg"
  start haproxy-nd 1 haproxy -db -f "$work/haproxy-nd.cfg"
  wait_port "$haproxy_nd_port" haproxy-nd "$pid_haproxy_nd"
fi
if want c; then
  # A proxy that does no work, on the proxy's core: what a hop costs on this machine by itself.
  start relay 1 "$relay_bin" --listen "127.0.0.1:$relay_port" --upstream "127.0.0.1:$up_port"
  wait_port "$relay_port" relay "$pid_relay"
fi
portkey_stream_skip=""
if [[ -z "$portkey_skip" ]]; then
  start portkey 1 node --require "$root/deploy/bench/portkey-loopback.cjs" "$portkey_js" \
    "--port=$portkey_port" --headless
  for ((i = 0; i < 300; i++)); do
    port_open "$portkey_port" && break
    kill -0 "$pid_portkey" 2>/dev/null || break
    sleep 0.05
  done
  if ! port_open "$portkey_port"; then
    portkey_skip="it did not start (log: $work/portkey.log)"
  fi
fi
portkey_headers=(-H "x-portkey-provider: openai" -H "x-portkey-custom-host: http://127.0.0.1:$up_port/v1"
  -H "Authorization: Bearer sk-bench")

chat_body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in one word."}]}'
stream_body='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello in one word."}]}'
stream_headers=(-H "x-fake-chunks: 50")

# Every target answers one chat completion before anything is measured.
probe() {  # URL HEADERS...
  local url="$1"
  shift
  curl -fsS -m 10 -o /dev/null "$url" -H 'Content-Type: application/json' "$@" -d "$chat_body"
}
probe "http://127.0.0.1:$up_port/v1/chat/completions" || die "the fake upstream does not answer"
probe "http://127.0.0.1:$fwd_port/v1/chat/completions" -H "Authorization: Bearer $fwd_key" ||
  die "fwd does not answer (log: $work/fwd.log)"
if [[ -n "${pid_fwd_base:-}" ]]; then probe "http://127.0.0.1:$fwdb_port/v1/chat/completions" -H "Authorization: Bearer $base_key" || die "fwd-base does not answer (log: $work/fwd-base.log)"; fi
if [[ -n "${pid_fwd_lim:-}" ]]; then probe "http://127.0.0.1:$fwdl_port/v1/chat/completions" -H "Authorization: Bearer $lim_key" || die "fwd-lim does not answer (log: $work/fwd-lim.log)"; fi
if [[ -n "${pid_fwd_redis:-}" ]]; then
  probe "http://127.0.0.1:$fwdr_port/v1/chat/completions" -H "Authorization: Bearer $redis_key" || die "fwd-redis does not answer (log: $work/fwd-redis.log)"
  # Counted in Redis, not in memory: the probe's admission left a count there.
  curl -fs "http://127.0.0.1:$fwdr_admin/metrics" | grep -q '^fwd_redis_duration_seconds_count{script="admit"} [1-9]' || die "fwd-redis did not count in Redis (log: $work/fwd-redis.log)"
fi
if [[ -n "${pid_fwd_conv:-}" ]]; then
  probe "http://127.0.0.1:$fwdv_port/v1/chat/completions" -H "Authorization: Bearer $conv_key" || die "fwd-conv does not answer (log: $work/fwd-conv.log)"
  curl -fs "http://127.0.0.1:$fwdv_port/v1/chat/completions" -H "Authorization: Bearer $conv_key" \
    -H 'Content-Type: application/json' -H 'x-fake-chunks: 50' -d "$chat_body" \
    | jq -e '.object == "chat.completion" and (.choices[0].message.content | length) > 100' >/dev/null \
    || die "fwd-conv does not assemble the stream (log: $work/fwd-conv.log)"
fi
if [[ -n "${pid_fwd_pol:-}" ]]; then probe "http://127.0.0.1:$fwdp_port/v1/chat/completions" -H "Authorization: Bearer $pol_key" || die "fwd-pol does not answer (log: $work/fwd-pol.log)"; fi
if [[ -n "${pid_nginx:-}" ]]; then probe "http://127.0.0.1:$nginx_port/v1/chat/completions" || die "nginx does not answer"; fi
if [[ -n "${pid_haproxy:-}" ]]; then probe "http://127.0.0.1:$haproxy_port/v1/chat/completions" || die "haproxy does not answer"; fi
if [[ -z "$portkey_skip" ]]; then
  if ! probe "http://127.0.0.1:$portkey_port/v1/chat/completions" "${portkey_headers[@]}" 2>"$work/portkey-probe.err"; then
    portkey_skip="a chat completion through it failed: $(head -c 200 "$work/portkey-probe.err")"
  fi
fi
if [[ -z "$portkey_skip" ]]; then
  # Portkey forwards custom headers (x-fake-chunks) only when told to.
  code="$(curl -sS -m 10 -o "$work/portkey-stream-probe.out" -w '%{http_code}' \
    "http://127.0.0.1:$portkey_port/v1/chat/completions" -H 'Content-Type: application/json' \
    "${portkey_headers[@]}" -H 'x-portkey-forward-headers: x-fake-chunks' "${stream_headers[@]}" \
    -d "$stream_body" 2>&1 || true)"
  events="$(grep -c '^data: {' "$work/portkey-stream-probe.out" 2>/dev/null || true)"
  if [[ "$code" != 200 || "$events" != 50 ]]; then
    portkey_stream_skip="a streamed request through Portkey $portkey_version (Node $(node --version)) answered HTTP $code with ${events:-0} of 50 events: $(head -c 120 "$work/portkey-stream-probe.out" | tr -d '\n')"
    # (its start-up spinner shares the line: keep what follows the last "...")
    err_line="$(grep -m1 -E 'TypeError|Error' "$work/portkey.log" 2>/dev/null | sed 's/^.*\.\.\.//' || true)"
    [[ -z "$err_line" ]] || portkey_stream_skip+="; its log: ${err_line}"
  fi
fi
[[ -z "$portkey_skip" ]] || say "Portkey skipped: $portkey_skip"

# ---------------------------------------------------------------- measuring helpers
clk_tck="$(getconf CLK_TCK)"
fcalc() { awk "BEGIN { printf \"%.6f\", $* }"; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { if (v == "" || v == "-") print "—"; else printf "%.*f", d, v }'; }
fmax() {  # A B -> the larger; an empty A (nothing yet) gives B
  awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b > a) ? b : a }'
}
ratio() {  # A B -> A/B with 2 decimals, or — when either is missing
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "—"; else printf "%.2f×", a / b }'
}
# paired WL TARGET REF KEY -> "median min max" of TARGET/REF over the rounds of WL that measured
# both, each round's ratio taken within the round (the machine's speed drifts over minutes; two
# runs a few seconds apart share its state). Empty when no round has both.
paired() {
  local r a b
  for ((r = 1; r <= tp_rounds; r++)); do
    a="${R[$1#$r:$2:$4]:-}"
    b="${R[$1#$r:$3:$4]:-}"
    if [[ -n "$a" && -n "$b" ]]; then
      awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 > 0) printf "%.6f\n", a / b }'
    fi
  done | sort -g | awk '{ x[++n] = $1 } END { if (n) printf "%.6f %.6f %.6f", x[int((n + 1) / 2)], x[1], x[n] }'
}
maj_faults() {  # PIDS... -> major page faults summed (pages read back from disk)
  local total=0 pid
  for pid in "$@"; do total=$((total + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $10 }'))); done
  echo "$total"
}
cpu_ticks() {  # PIDS... -> utime+stime summed, in clock ticks
  local total=0 pid t
  for pid in "$@"; do
    t="$(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')"
    total=$((total + t))
  done
  echo "$total"
}
# -> "busy0 total0 busy1 total1 steal0 steal1" jiffies from /proc/stat; busy counts everything
# but idle and iowait (irq and softirq included: with tick-based accounting that time is also in
# the utime+stime of whichever process was running); steal is time the hypervisor gave our
# virtual CPU to someone else.
core_busy() {
  awk '$1 == "cpu0" || $1 == "cpu1" { t = 0; for (i = 2; i <= NF; i++) t += $i; b[$1] = t - $5 - $6; tt[$1] = t; st[$1] = $9 }
       END { printf "%d %d %d %d %d %d", b["cpu0"], tt["cpu0"], b["cpu1"], tt["cpu1"], st["cpu0"], st["cpu1"] }' /proc/stat
}
main_pid=$BASHPID
child_ticks() {  # CPU of the script's waited-for children (cutime+cstime): wrk, fwd_loadgen
  sed 's/^.*) //' "/proc/$main_pid/stat" | awk '{ print $14 + $15 }'
}
# measure_begin / measure_end PREFIX: around one measured run. Fills R[PREFIX:cpu_ticks] (the
# proxy's, t_pids), R[PREFIX:cpu_pct], R[PREFIX:core0] (busy % of CPU 0), R[PREFIX:other] (CPU
# used on the two cores by anything but the proxy, the fake upstream and the load generator, in
# % of one core: another user's compiler, say), R[PREFIX:wall].
measure_begin() {
  m_c0="$(cpu_ticks "${t_pids[@]}")"
  m_j0="$(maj_faults "${t_pids[@]}")"
  m_f0="$(cpu_ticks "$pid_upstream")"
  m_k0="$(child_ticks)"
  m_s0="$(core_busy)"
  m_w0="$(date +%s.%N)"
}
measure_end() {
  local p="$1" w1 s1 c1 f1 k1 b0 t0 b1 t1 p0 p1 b0e t0e b1e t1e p0e p1e
  w1="$(date +%s.%N)"
  s1="$(core_busy)"
  c1="$(cpu_ticks "${t_pids[@]}")"
  R[$p:majflt]=$(($(maj_faults "${t_pids[@]}") - m_j0))
  f1="$(cpu_ticks "$pid_upstream")"
  k1="$(child_ticks)"
  read -r b0 t0 b1 t1 p0 p1 <<<"$m_s0"
  read -r b0e t0e b1e t1e p0e p1e <<<"$s1"
  local wall ticks=$((c1 - m_c0)) ours
  wall="$(fcalc "$w1 - $m_w0")"
  ours=$((ticks + f1 - m_f0 + k1 - m_k0))
  R[$p:wall]=$wall
  R[$p:cpu_ticks]=$ticks
  R[$p:cpu_pct]="$(fcalc "$ticks / $clk_tck / $wall * 100")"
  R[$p:core0]="$(fcalc "($b0e - $b0) / (($t0e - $t0) > 0 ? ($t0e - $t0) : 1) * 100")"
  # /proc/stat counts USER_HZ jiffies, the same unit as CLK_TCK.
  local steal=$(((p0e - p0) + (p1e - p1)))
  R[$p:steal]="$(fcalc "$steal / $clk_tck / $wall * 100")"
  # An estimate (tick-sampled /proc/stat against per-process accounting): clamped at 0.
  R[$p:other]="$(fcalc "((($b0e - $b0) + ($b1e - $b1)) - $steal - $ours) / $clk_tck / $wall * 100")"
  R[$p:other]="$(awk -v o="${R[$p:other]}" 'BEGIN { printf "%.6f", (o < 0 ? 0 : o) }')"
  awk -v o="${R[$p:other]}" -v s="${R[$p:steal]}" 'BEGIN { exit !(o > 15 || s > 5) }' && disturbed=1 || true
}
# Waits (within the --wait-quiet budget) until the machine is quiet: under 10 % of a core busy
# over half a second, i.e. nothing but this script's idle processes running.
quiet_budget=$wait_quiet_s
wait_quiet() {
  local s0 s1 b0 t0 b1 t1 b0e t0e b1e t1e x busy
  while :; do
    s0="$(core_busy)"; sleep 0.5; s1="$(core_busy)"
    read -r b0 t0 b1 t1 x x <<<"$s0"
    read -r b0e t0e b1e t1e x x <<<"$s1"
    busy="$(fcalc "(($b0e - $b0) + ($b1e - $b1)) / $clk_tck / 0.5 * 100")"
    awk -v b="$busy" 'BEGIN { exit !(b > 10) }' || return 0
    awk -v q="$quiet_budget" 'BEGIN { exit !(q > 0) }' || return 0
    ((quiet_waited == 0)) && say "machine busy ($(fmt "$busy") % of a core outside the benchmark); waiting for quiet (budget ${quiet_budget} s)"
    quiet_waited=1
    quiet_budget="$(fcalc "$quiet_budget - 1")"
    sleep 0.5
  done
}
quiet_waited=0
disturbed=0
rss_kb() {  # PIDS... -> VmRSS summed
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"))); done
  echo "$total"
}
nginx_pids() { echo "$pid_nginx $(pgrep -P "$pid_nginx" | tr '\n' ' ')"; }

# Per target: URL base, extra headers, the pids whose CPU is the proxy's, where load runs.
declare -A R   # results, keyed "workload:target:field"
target_setup() {
  t_body=""
  t_headers=()
  t_pids=()
  t_loadcpu=0
  t_threads=1
  case "$1" in
    direct) t_port=$up_port ;;
    nginx) t_port=$nginx_port; read -ra t_pids <<<"$(nginx_pids)" ;;
    haproxy) t_port=$haproxy_port; t_pids=("$pid_haproxy") ;;
    haproxy-nd) t_port=$haproxy_nd_port; t_pids=("$pid_haproxy_nd") ;;
    relay) t_port=$relay_port; t_pids=("$pid_relay") ;;
    fwd|fwd-lr) t_port=$fwd_port; t_pids=("$pid_fwd"); t_headers=(-H "Authorization: Bearer $fwd_key") ;;
    fwd-base)
      t_port=$fwdb_port; t_pids=("$pid_fwd_base"); t_headers=(-H "Authorization: Bearer $base_key") ;;
    fwd-pol)
      t_port=$fwdp_port; t_pids=("$pid_fwd_pol"); t_headers=(-H "Authorization: Bearer $pol_key") ;;
    fwd-norec)
      t_port=$fwdn_port; t_pids=("$pid_fwd_norec"); t_headers=(-H "Authorization: Bearer $fwd_key") ;;
    fwd-conv)  # the same answers asked for without a stream: fwd assembles the upstream's stream
      t_port=$fwdv_port; t_pids=("$pid_fwd_conv"); t_headers=(-H "Authorization: Bearer $conv_key")
      t_body="$chat_body" ;;
    fwd-lim)
      t_port=$fwdl_port; t_pids=("$pid_fwd_lim"); t_headers=(-H "Authorization: Bearer $lim_key") ;;
    fwd-redis)
      t_port=$fwdr_port; t_pids=("$pid_fwd_redis"); t_headers=(-H "Authorization: Bearer $redis_key") ;;
    fwd-w2)
      t_port=$w2_port; t_pids=("$pid_fwd_w2"); t_headers=(-H "Authorization: Bearer $fwd_key")
      t_loadcpu=0,1; t_threads=2 ;;
    portkey) t_port=$portkey_port; t_pids=("$pid_portkey"); t_headers=("${portkey_headers[@]}") ;;
  esac
  t_url="http://127.0.0.1:$t_port/v1/chat/completions"
}

# wrk_run WORKLOAD TARGET BODY EXTRA_HEADERS...: warm-up, then a measured wrk run; fills R.
wrk_run() {
  local wl="$1" target="$2" body="$3"
  shift 3
  target_setup "$target"
  local hdrs=("${t_headers[@]}" "$@")
  body="${t_body:-$body}"
  FWD_BENCH_BODY="$body" taskset -c "$t_loadcpu" wrk -t"$t_threads" -c"$conns" -d"${warm}s" \
    -s deploy/bench/wrk.lua "${hdrs[@]}" "$t_url" >/dev/null 2>&1 || true
  wait_quiet
  measure_begin
  FWD_BENCH_BODY="$body" taskset -c "$t_loadcpu" wrk -t"$t_threads" -c"$conns" -d"${dur}s" \
    --timeout 10s -s deploy/bench/wrk.lua "${hdrs[@]}" "$t_url" >"$work/wrk-$wl-$target.out" 2>&1 || true
  measure_end "$wl:$target"
  local line
  line="$(grep '^WRK_RESULT' "$work/wrk-$wl-$target.out" || true)"
  [[ -n "$line" ]] || { say "wrk gave no result for $wl/$target: $(tail -3 "$work/wrk-$wl-$target.out")"; return 0; }
  local kv requests duration_us errors=0
  for kv in ${line#WRK_RESULT }; do
    case "$kv" in
      requests=*) requests="${kv#*=}" ;;
      duration_us=*) duration_us="${kv#*=}" ;;
      connect=*|read=*|write=*|status=*|timeout=*) errors=$((errors + ${kv#*=})) ;;
      p50=*) R[$wl:$target:p50]="${kv#*=}" ;;
      p99=*) R[$wl:$target:p99]="${kv#*=}" ;;
    esac
  done
  R[$wl:$target:requests]=$requests
  R[$wl:$target:errors]=$errors
  R[$wl:$target:rate]="$(fcalc "$requests / ($duration_us / 1e6)")"
  if ((${#t_pids[@]})); then
    R[$wl:$target:cpu_us]="$(fcalc "${R[$wl:$target:cpu_ticks]} / $clk_tck * 1e6 / ($requests > 0 ? $requests : 1)")"
  else
    unset "R[$wl:$target:cpu_pct]"
  fi
  say "$wl $target: $(fmt "${R[$wl:$target:rate]}") /s, proxy CPU $(fmt "${R[$wl:$target:cpu_us]:-}" 1) µs each, errors $errors"
}

# wrk_rounds WL TARGETS -- BODY HEADERS...: tp_rounds rounds, each running wrk against every
# target in turn (so a slow spell of this virtual machine hits them all alike), then per target
# the median round's req/s and CPU per request (each median on its own), errors summed, proxy
# CPU % and core 0 % the mean, other % and steal % the worst round.
wrk_rounds() {
  local wl="$1" r t targets=()
  shift
  while [[ "$1" != -- ]]; do targets+=("$1"); shift; done
  shift
  local body="$1"
  shift
  for ((r = 1; r <= tp_rounds; r++)); do
    for t in "${targets[@]}"; do
      if [[ "$t" == portkey ]]; then
        wrk_run "$wl#$r" "$t" "$body" "$@" -H 'x-portkey-forward-headers: x-fake-chunks'
      else
        wrk_run "$wl#$r" "$t" "$body" "$@"
      fi
    done
  done
  local k v
  for t in "${targets[@]}"; do
    for k in rate cpu_us p50 p99; do
      v="$(for ((r = 1; r <= tp_rounds; r++)); do echo "${R[$wl#$r:$t:$k]:-}"; done |
        awk 'NF' | sort -g | awk '{ x[++n] = $1 } END { if (n) print x[int((n + 1) / 2)] }')"
      if [[ -n "$v" ]]; then R[$wl:$t:$k]=$v; else unset "R[$wl:$t:$k]"; fi
    done
    for k in cpu_pct core0; do
      v="$(for ((r = 1; r <= tp_rounds; r++)); do echo "${R[$wl#$r:$t:$k]:-}"; done |
        awk 'NF { s += $1; n++ } END { if (n) printf "%.6f", s / n }')"
      if [[ -n "$v" ]]; then R[$wl:$t:$k]=$v; else unset "R[$wl:$t:$k]"; fi
    done
    for k in other steal; do
      v="$(for ((r = 1; r <= tp_rounds; r++)); do echo "${R[$wl#$r:$t:$k]:-}"; done |
        awk 'NF && (m == "" || $1 > m) { m = $1 } END { print m }')"
      if [[ -n "$v" ]]; then R[$wl:$t:$k]=$v; else unset "R[$wl:$t:$k]"; fi
    done
    v=0
    for ((r = 1; r <= tp_rounds; r++)); do v=$((v + ${R[$wl#$r:$t:errors]:-0})); done
    R[$wl:$t:errors]=$v
  done
}

report="$work/report.md"
emit() { printf '%s\n' "$*" | tee -a "$report"; }
targets_ab=(direct nginx haproxy fwd)
[[ -z "$base_build" ]] || targets_ab+=(fwd-base)
((!policies)) || targets_ab+=(fwd-pol)
((!records)) || targets_ab+=(fwd-norec)
((!limits)) || targets_ab+=(fwd-lim fwd-redis)
[[ -n "$portkey_skip" ]] || targets_ab+=(portkey)
# fwd_pairs WL: what fwd-base and fwd-pol cost next to fwd, paired round by round.
fwd_pairs() {
  local wl="$1" unit="$2" x lo hi
  if [[ -n "$base_build" && -n "${R[$wl:fwd-base:cpu_us]:-}" ]]; then
    read -r x lo hi <<<"$(paired "$wl" fwd fwd-base cpu_us)"
    emit ""
    emit "fwd against fwd-base (\`$base_rev\`, the same workload under that commit's binaries): CPU per $unit $(fmt "${R[$wl:fwd:cpu_us]}" 1) vs $(fmt "${R[$wl:fwd-base:cpu_us]}" 1) µs (medians), paired ratio $(printf '%.2f' "$x")× (rounds $(printf '%.2f' "$lo")–$(printf '%.2f' "$hi")×)."
  fi
  if ((policies)) && [[ -n "${R[$wl:fwd-pol:cpu_us]:-}" ]]; then
    read -r x lo hi <<<"$(paired "$wl" fwd-pol fwd cpu_us)"
    emit ""
    emit "fwd-pol (IP rules, every request edit and an answer prefix configured) against fwd: CPU per $unit $(fmt "${R[$wl:fwd-pol:cpu_us]}" 1) vs $(fmt "${R[$wl:fwd:cpu_us]}" 1) µs (medians), paired ratio $(printf '%.2f' "$x")× (rounds $(printf '%.2f' "$lo")–$(printf '%.2f' "$hi")×)."
  fi
  if ((records)) && [[ -n "${R[$wl:fwd-norec:cpu_us]:-}" ]]; then
    read -r x lo hi <<<"$(paired "$wl" fwd fwd-norec cpu_us)"
    emit ""
    emit "fwd (a record of every request sent to its control plane) against fwd-norec (\`--records off\`): CPU per $unit $(fmt "${R[$wl:fwd:cpu_us]}" 1) vs $(fmt "${R[$wl:fwd-norec:cpu_us]}" 1) µs (medians), paired ratio $(printf '%.2f' "$x")× (rounds $(printf '%.2f' "$lo")–$(printf '%.2f' "$hi")×)."
    local m
    m="$(curl -fs "http://127.0.0.1:$fwd_admin/metrics" | grep '^fwd_records_' | tr '\n' ' ')"
    emit "fwd's records so far: $m"
  fi
  if ((convert)) && [[ -n "${R[$wl:fwd-conv:cpu_us]:-}" ]]; then
    read -r x lo hi <<<"$(paired "$wl" fwd-conv fwd cpu_us)"
    emit ""
    emit "fwd-conv (the same 50-event answers asked for without a stream: fwd assembles each into one chat.completion) against fwd relaying the stream: CPU per $unit $(fmt "${R[$wl:fwd-conv:cpu_us]}" 1) vs $(fmt "${R[$wl:fwd:cpu_us]}" 1) µs (medians), paired ratio $(printf '%.2f' "$x")× (rounds $(printf '%.2f' "$lo")–$(printf '%.2f' "$hi")×)."
  fi
  if ((limits)) && [[ -n "${R[$wl:fwd-lim:cpu_us]:-}" ]]; then
    read -r x lo hi <<<"$(paired "$wl" fwd-lim fwd cpu_us)"
    emit ""
    emit "fwd-lim (the key has a request rate of two windows, counted in memory) against fwd: CPU per $unit $(fmt "${R[$wl:fwd-lim:cpu_us]}" 1) vs $(fmt "${R[$wl:fwd:cpu_us]}" 1) µs (medians), paired ratio $(printf '%.2f' "$x")× (rounds $(printf '%.2f' "$lo")–$(printf '%.2f' "$hi")×)."
  fi
  if ((limits)) && [[ -n "${R[$wl:fwd-redis:cpu_us]:-}" ]]; then
    read -r x lo hi <<<"$(paired "$wl" fwd-redis fwd cpu_us)"
    emit ""
    emit "fwd-redis (the same request rate counted in Redis: one script round trip per request) against fwd: CPU per $unit $(fmt "${R[$wl:fwd-redis:cpu_us]}" 1) vs $(fmt "${R[$wl:fwd:cpu_us]}" 1) µs (medians), paired ratio $(printf '%.2f' "$x")× (rounds $(printf '%.2f' "$lo")–$(printf '%.2f' "$hi")×)."
  fi
}

# ---------------------------------------------------------------- header
cpu_model="$(lscpu | awk -F': *' '/^Model name:/ && !m { m = $2 } END { print m }')"
mem_total="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
nginx_version="$(nginx -v 2>&1 | sed 's/^nginx version: nginx\///')"
haproxy_version="$(haproxy -v | awk 'NR == 1 { print $3 }')"
wrk_version="$( (wrk -v 2>&1 || true) | awk 'NR == 1 { print $2 }')"
node_version="$(node --version 2>/dev/null || echo none)"
if [[ -n "$portkey_skip" ]]; then portkey_line="skipped: $portkey_skip"; else portkey_line="$portkey_version"; fi
# What a guest's idle cores do matters to latency: with no halt-polling, an idle virtual CPU halts,
# and each wake-up sent to it across the cores costs an exit to the hypervisor.
virt_line() {
  if ! grep -qw hypervisor /proc/cpuinfo; then
    echo "none (bare metal)"
    return
  fi
  local driver poll
  driver="$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo unknown)"
  poll="$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || true)"
  if [[ "$driver" == haltpoll && "$poll" == 0 ]]; then
    echo "virtual machine; cpuidle \`haltpoll\` with \`guest_halt_poll_ns=0\`: an idle core halts at once, so every wake-up across the cores is a hypervisor exit"
  else
    echo "virtual machine; cpuidle \`$driver\`${poll:+, \`guest_halt_poll_ns=$poll\`}"
  fi
}

: >"$report"
emit "# fwd benchmarks"
emit ""
emit "Produced by \`deploy/bench.sh$( ((quick)) && echo ' --quick')$([[ "$only" == "a,b,c,d,e" ]] || echo " --only $only")$( ((skip_portkey)) && echo ' --skip-portkey')$([[ "$wait_quiet_s" == 0 ]] || echo " --wait-quiet $wait_quiet_s")$( ((policies)) && echo ' --policies')$( ((limits)) && echo ' --limits')$( ((records)) && echo ' --records')$( ((convert)) && echo ' --convert')\` on $(date -u '+%Y-%m-%d %H:%M UTC'), fwd at \`$git_rev\`. Rerun it to refresh this page; numbers from another machine are not comparable."
emit ""
emit "| Machine | |"
emit "|---|---|"
emit "| CPU | $cpu_model, $(nproc) cores |"
emit "| RAM | $mem_total |"
emit "| Kernel | $(uname -r) |"
emit "| Virtualisation | $(virt_line) |"
emit "| Neighbours | nginx $nginx_version, HAProxy $haproxy_version, Node $node_version, Portkey gateway $portkey_line |"
emit "| Load | wrk $wrk_version (\`-t1 -c$conns\`, ${dur} s after ${warm} s of warm-up, $tp_rounds round(s) per target, interleaved), fwd_loadgen (open loop) |"
emit "| Pinning | proxy under test alone on CPU 1 (\`taskset -c 1\`); load generator and fake upstream (\`--threads 1\`) on CPU 0; fwd \`--workers 2\` runs unpinned, with wrk \`-t2\` |"
emit ""
emit "Every process listens on 127.0.0.1. The upstream is fwd's C++ fake (\`tests/fakes\`), ~565-byte JSON answers, SSE streams of 50 events without delay. fwd runs with key auth (a Bearer key from \`fwdctl key create\`), model routing (\`--model 'gpt-*'\`), its admin listener (metrics) on, \`--workers 1\`, \`--log-level warn\`. nginx: one worker, \`proxy_pass\` with \`keepalive 64\`, \`proxy_http_version 1.1\`, \`proxy_buffering off\`, no access log. HAProxy: \`nbthread 1\`, HTTP mode, keep-alive and \`http-reuse always\`, no logging. Portkey: \`@portkey-ai/gateway\` from npm on Node, \`x-portkey-provider: openai\` + \`x-portkey-custom-host\` to the fake. Configs: \`deploy/bench/\`."
emit ""
emit "(a) and (b) run wrk in $tp_rounds round(s), each visiting every target in turn, so that a slow spell of the machine hits every target alike: req/s and CPU µs/req are each the median over the rounds, proxy CPU % and core 0 % the mean, other % and steal % the worst round, errors the sum. The targets' ratios are paired: fwd against the reference within each round, then the median of those ratios (with their range), because this machine's speed drifts by ±20 % over minutes while two runs a few seconds apart share its state."
emit ""
emit "CPU µs/req: the proxy's utime+stime (\`/proc/PID/stat\`; nginx master+worker) over the measured run ÷ requests completed. Proxy CPU %: of one core. Core 0 %: how busy the load generator's and upstream's core was — near 100 % means the load side, not the proxy, set the rate, which is then a lower bound for the proxy (compare CPU µs/req instead). Other %: CPU used on the two cores by processes outside the benchmark, in % of one core (an estimate: the cores' busy time in \`/proc/stat\` minus what the benchmark's processes were charged); steal %: time the hypervisor took from the two virtual CPUs, in % of one core. Either above a few % means the run was disturbed (the proxy shared its core), and latencies especially are not trustworthy."

# ---------------------------------------------------------------- (a) throughput
if want a; then
  say "(a) non-streaming chat completions, $conns connections"
  wrk_rounds a "${targets_ab[@]}" fwd-w2 -- "$chat_body"
  emit ""
  emit "## (a) Chat completion, not streamed ($conns keep-alive connections)"
  emit ""
  emit "| Target | req/s | × direct | × nginx | CPU µs/req | CPU × nginx | proxy CPU % | core 0 % | other % | steal % | wrk p50 ms | wrk p99 ms | errors |"
  emit "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for t in "${targets_ab[@]}" fwd-w2; do
    [[ -n "${R[a:$t:rate]:-}" ]] || continue
    label="$t"
    [[ "$t" != fwd-w2 ]] || label="fwd --workers 2 (unpinned)"
    [[ "$t" != direct ]] || label="direct (fake upstream)"
    emit "| $label | $(fmt "${R[a:$t:rate]}") | $(ratio "${R[a:$t:rate]}" "${R[a:direct:rate]:-}") | $(ratio "${R[a:$t:rate]}" "${R[a:nginx:rate]:-}") | $(fmt "${R[a:$t:cpu_us]:-}" 1) | $(ratio "${R[a:$t:cpu_us]:-}" "${R[a:nginx:cpu_us]:-}") | $(fmt "${R[a:$t:cpu_pct]:-}") | $(fmt "${R[a:$t:core0]:-}") | $(fmt "${R[a:$t:other]:-}") | $(fmt "${R[a:$t:steal]:-}") | $(fmt "$(fcalc "${R[a:$t:p50]:-0} / 1000")" 2) | $(fmt "$(fcalc "${R[a:$t:p99]:-0} / 1000")" 2) | ${R[a:$t:errors]} |"
  done
  if [[ -n "$portkey_skip" ]]; then
    emit ""
    emit "Portkey: skipped — $portkey_skip."
  fi
  if [[ -n "${R[a:fwd:rate]:-}" && -n "${R[a:fwd-w2:rate]:-}" ]]; then
    emit ""
    emit "fwd \`--workers 2\` (unpinned, sharing both cores with wrk and the upstream): $(ratio "${R[a:fwd-w2:rate]}" "${R[a:fwd:rate]}") the req/s of \`--workers 1\` on its own core."
  fi
  fwd_pairs a request
fi

# ---------------------------------------------------------------- (b) streams
# stream_table WL TITLE NOTE HEADERS...: wrk over every target with a streamed request, then
# the table.
stream_table() {
  local wl="$1" title="$2" note="$3" t label per_event
  shift 3
  local targets=(direct nginx haproxy haproxy-nd fwd)
  [[ -z "$base_build" ]] || targets+=(fwd-base)
  ((!policies)) || targets+=(fwd-pol)
  ((!records)) || targets+=(fwd-norec)
  ((!convert)) || targets+=(fwd-conv)
  [[ "$wl" != b || -n "$portkey_skip" || -n "$portkey_stream_skip" ]] || targets+=(portkey)
  wrk_rounds "$wl" "${targets[@]}" fwd-w2 -- "$stream_body" "$@"
  emit ""
  emit "## $title"
  emit ""
  emit "$note"
  emit ""
  emit "| Target | streams/s | events/s | × direct | × nginx | × HAProxy | × HAProxy no-delay | CPU µs/stream | CPU µs/event | proxy CPU % | core 0 % | other % | steal % | errors |"
  emit "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for t in "${targets[@]}" fwd-w2; do
    [[ -n "${R[$wl:$t:rate]:-}" ]] || continue
    label="$t"
    [[ "$t" != fwd-w2 ]] || label="fwd --workers 2 (unpinned)"
    [[ "$t" != direct ]] || label="direct (fake upstream)"
    [[ "$t" != haproxy-nd ]] || label="haproxy, http-no-delay"
    per_event=""
    [[ -z "${R[$wl:$t:cpu_us]:-}" ]] || per_event="$(fcalc "${R[$wl:$t:cpu_us]} / 50")"
    emit "| $label | $(fmt "${R[$wl:$t:rate]}") | $(fmt "$(fcalc "${R[$wl:$t:rate]} * 50")") | $(ratio "${R[$wl:$t:rate]}" "${R[$wl:direct:rate]:-}") | $(ratio "${R[$wl:$t:rate]}" "${R[$wl:nginx:rate]:-}") | $(ratio "${R[$wl:$t:rate]}" "${R[$wl:haproxy:rate]:-}") | $(ratio "${R[$wl:$t:rate]}" "${R[$wl:haproxy-nd:rate]:-}") | $(fmt "${R[$wl:$t:cpu_us]:-}" 1) | $(fmt "$per_event" 2) | $(fmt "${R[$wl:$t:cpu_pct]:-}") | $(fmt "${R[$wl:$t:core0]:-}") | $(fmt "${R[$wl:$t:other]:-}") | $(fmt "${R[$wl:$t:steal]:-}") | ${R[$wl:$t:errors]} |"
  done
  emit ""
  emit "CPU µs/event is CPU per stream ÷ 50, so it includes each stream's request and head."
  if [[ "$wl" == b && -n "$portkey_skip" ]]; then
    emit "Portkey: skipped — $portkey_skip."
  elif [[ "$wl" == b && -n "$portkey_stream_skip" ]]; then
    emit "Portkey: skipped — $portkey_stream_skip."
  fi
  if [[ -n "${R[$wl:fwd:rate]:-}" && -n "${R[$wl:fwd-w2:rate]:-}" ]]; then
    emit ""
    emit "fwd \`--workers 2\` (unpinned): $(ratio "${R[$wl:fwd-w2:rate]}" "${R[$wl:fwd:rate]}") the streams/s of \`--workers 1\`."
  fi
  fwd_pairs "$wl" stream
}

if want b; then
  say "(b) streamed chat completions, 50 events each, $conns connections"
  stream_table b "(b) Chat completion streamed, 50 SSE events per response ($conns connections)" \
    "The fake writes the head and each event on its own (\`write()\` per event, TCP_NODELAY), as a model server does when events are generated one by one: each proxy reads and sends once per event, and so does the load side, whose core (core 0) then sets the rate." \
    "${stream_headers[@]}"
  say "(b) the same streams, each sent by the upstream at once"
  stream_table bb "(b) The same streams, each response sent by the upstream at once ($conns connections)" \
    "The fake writes the head and all 52 events (~11 KB) in one \`write()\` (\`x-fake-events-per-write: 64\`): the proxy still parses and counts every event, but reads and sends each response once, so what it spends per stream weighs more than the load side's work." \
    "${stream_headers[@]}" -H "x-fake-events-per-write: 64"

  # How late events arrive: slow streams (an event every 20 ms, as a model generates tokens),
  # each event's arrival against when the upstream sent it.
  ev_dur=$(( quick ? 2 : 5 ))
  say "(b) event delay: $ev_streams streams, 20 events 20 ms apart, ${ev_dur} s per target"
  targets_ev=(direct nginx haproxy haproxy-nd fwd)
  for t in "${targets_ev[@]}"; do
    target_setup "$t"
    lg_headers=()
    for ((i = 1; i < ${#t_headers[@]}; i += 2)); do lg_headers+=(--header "${t_headers[i]}"); done
    wait_quiet
    taskset -c 0 "$loadgen" --url "$t_url" --mode events --streams "$ev_streams" \
      --event-interval 0.02 --duration "$ev_dur" --warmup 0.5 --timeout 10 \
      --header 'Content-Type: application/json' --header 'x-fake-chunks: 19' \
      --header 'x-fake-chunk-delay-ms: 20' "${lg_headers[@]}" --body "$stream_body" \
      >"$work/events-$t.json" 2>"$work/events-$t.err" || true
    R[ev:$t:json]="$(tail -1 "$work/events-$t.json")"
    if ! jq -e .delay_us >/dev/null 2>&1 <<<"${R[ev:$t:json]}"; then
      say "event delay via $t failed: $(head -c 200 "$work/events-$t.err")"
      unset "R[ev:$t:json]"
    fi
  done
  emit ""
  emit "### (b) Event delay: $ev_streams streams, each 20 events 20 ms apart"
  emit ""
  emit "fwd_loadgen \`--mode events\`: event i of a response is due at the client i × 20 ms after the request went out (the fake keeps to that schedule); its delay is how much later it arrives. A proxy that holds events back to send them in batches shows here: that is what HAProxy's default does (the kernel keeps each small write until the client acknowledges earlier data), and why its streams/s above are not a like-for-like comparison for SSE."
  emit ""
  emit "| Target | events | p50 ms | p99 ms | max ms | added p50 ms | added p99 ms | errors |"
  emit "|---|---:|---:|---:|---:|---:|---:|---:|"
  for t in "${targets_ev[@]}"; do
    j="${R[ev:$t:json]:-}"
    [[ -n "$j" ]] || continue
    label="$t"
    [[ "$t" != direct ]] || label="direct (fake upstream)"
    [[ "$t" != haproxy-nd ]] || label="haproxy, http-no-delay"
    d="${R[ev:direct:json]:-}"
    a50="—"; a99="—"
    if [[ -n "$d" && "$t" != direct ]]; then
      a50="$(fmt "$(fcalc "($(jq -r .delay_us.p50 <<<"$j") - $(jq -r .delay_us.p50 <<<"$d")) / 1000")" 2)"
      a99="$(fmt "$(fcalc "($(jq -r .delay_us.p99 <<<"$j") - $(jq -r .delay_us.p99 <<<"$d")) / 1000")" 2)"
      R[ev:$t:added99]="$(fcalc "($(jq -r .delay_us.p99 <<<"$j") - $(jq -r .delay_us.p99 <<<"$d")) / 1000")"
    fi
    emit "| $label | $(jq -r .events <<<"$j") | $(fmt "$(fcalc "$(jq -r .delay_us.p50 <<<"$j") / 1000")" 2) | $(fmt "$(fcalc "$(jq -r .delay_us.p99 <<<"$j") / 1000")" 2) | $(fmt "$(fcalc "$(jq -r .delay_us.max <<<"$j") / 1000")" 2) | $a50 | $a99 | $(jq -r .errors <<<"$j") |"
  done
fi

# ---------------------------------------------------------------- (c) latency at a fixed rate
jget() { jq -r "$2" <<<"$1"; }
# fwd's own event loop (fwd_worker_loop_delay_seconds): "ticks ticks_over_5ms" so far.
fwd_loop_ticks() {
  curl -fs "http://127.0.0.1:$fwd_admin/metrics" 2>/dev/null | awk '
    /^fwd_worker_loop_delay_seconds_bucket\{worker="0",le="0.005"\}/ { fast = $2 }
    /^fwd_worker_loop_delay_seconds_bucket\{worker="0",le="\+Inf"\}/ { all = $2 }
    END { printf "%d %d", all, all - fast }'
}
if want c; then
  fwd_peak="${R[a:fwd:rate]:-}"
  if [[ -z "$fwd_peak" ]]; then
    say "(c) needs fwd's peak: a short wrk run"
    saved_dur=$dur; dur=3; wrk_run a fwd "$chat_body"; dur=$saved_dur
    fwd_peak="${R[a:fwd:rate]:-}"
  fi
  lat_rate="$(awk -v p="$fwd_peak" 'BEGIN { r = int(p / 2 / 100) * 100; if (r < 100) r = 100; print r }')"
  lat_conns=32
  say "(c) latency at $lat_rate req/s (half of fwd's $(fmt "$fwd_peak") req/s), $lat_conns connections, open loop"
  targets_c=(direct relay nginx haproxy fwd)
  if ((limits)); then
    # Redis shares core 0 with the load generator and the upstream, so fwd-redis peaks lower
    # than fwd on 2 cores: at fwd's rate it would only measure a queue. The limited targets and
    # fwd once more (fwd-lr) run at half of fwd-redis's own peak, so what a limit adds is read
    # at one rate where no core is saturated.
    if [[ -z "${R[a:fwd-redis:rate]:-}" ]]; then
      say "(c) needs fwd-redis's peak: a short wrk run"
      saved_dur=$dur; dur=3; wrk_run a fwd-redis "$chat_body"; dur=$saved_dur
    fi
    lim_peak="${R[a:fwd-redis:rate]:-$fwd_peak}"
    lim_rate="$(awk -v p="$lim_peak" -v r="$lat_rate" 'BEGIN { x = int(p / 2 / 100) * 100; if (x < 100) x = 100; if (x > r) x = r; print x }')"
    say "(c) the limited targets and fwd-lr at $lim_rate req/s (half of fwd-redis's peak)"
    targets_c+=(fwd-lr fwd-lim fwd-redis)
  fi
  [[ -n "$portkey_skip" ]] || targets_c+=(portkey)
  # Rounds visit every target in turn, so a disturbance (steal, another process) spreads over
  # all of them; each percentile reported is the median over the rounds.
  for ((round = 1; round <= lat_rounds; round++)); do
    for t in "${targets_c[@]}"; do
      target_setup "$t"
      rate=$lat_rate
      [[ "$t" != fwd-lr && "$t" != fwd-lim && "$t" != fwd-redis ]] || rate=$lim_rate
      if [[ "$t" == portkey ]]; then
        # Portkey cannot sustain fwd's rate; measure it at half of its own peak instead.
        pk_peak="${R[a:portkey:rate]:-}"
        [[ -n "$pk_peak" ]] || pk_peak=200
        rate="$(awk -v p="$pk_peak" -v r="$lat_rate" 'BEGIN { x = int(p / 2); if (x < 10) x = 10; if (x > r) x = r; print x }')"
      fi
      lg_headers=()
      for ((i = 1; i < ${#t_headers[@]}; i += 2)); do lg_headers+=(--header "${t_headers[i]}"); done
      wait_quiet
      # From the end of the warm-up second to the end of the run: were the cores there?
      hiccup_pids=()
      for core in 0 1; do
        (sleep 1; exec "$hiccup" --cpu "$core" --duration "$((lat_dur + 5))" --realtime) \
          >"$work/hiccup$core-$t-$round.json" 2>&1 &
        hiccup_pids+=($!)
      done
      [[ "$t" != fwd ]] || read -r loop_t0 loop_l0 <<<"$(fwd_loop_ticks)"
      measure_begin
      taskset -c 0 "$loadgen" --url "$t_url" --mode rate --rate "$rate" --connections "$lat_conns" \
        --duration "$lat_dur" --warmup 1 --timeout 10 --header 'Content-Type: application/json' \
        "${lg_headers[@]}" --body "$chat_body" >"$work/loadgen-$t-$round.json" 2>"$work/loadgen-$t-$round.err" || true
      measure_end "c:$t:$round"
      if [[ "$t" == fwd ]]; then
        read -r loop_t1 loop_l1 <<<"$(fwd_loop_ticks)"
        R[c:fwd:$round:loop]="$((loop_l1 - loop_l0)) of $((loop_t1 - loop_t0))"
      fi
      kill -TERM "${hiccup_pids[@]}" 2>/dev/null || true
      wait "${hiccup_pids[@]}" 2>/dev/null || true
      hj="$(tail -1 "$work/hiccup0-$t-$round.json")"
      ! jq -e .stall_ms >/dev/null 2>&1 <<<"$hj" || R[c:$t:$round:stall0_ms]="$(jget "$hj" .stall_ms)"
      hj="$(tail -1 "$work/hiccup1-$t-$round.json")"
      if jq -e .stall_ms >/dev/null 2>&1 <<<"$hj"; then
        R[c:$t:$round:stall_ms]="$(jget "$hj" .stall_ms)"
        R[c:$t:$round:stall_max]="$(jget "$hj" .max_ms)"
        # Over 1 % of the run without the core: the round measured the host.
        awk -v s="${R[c:$t:$round:stall_ms]}" -v d="$lat_dur" 'BEGIN { exit !(s > d * 10) }' && disturbed=1 || true
      fi
      json="$(tail -1 "$work/loadgen-$t-$round.json")"
      if [[ -z "$json" ]]; then
        say "loadgen gave no result for $t: $(tail -3 "$work/loadgen-$t-$round.err")"
        continue
      fi
      echo "$json" >>"$work/loadgen-$t.all"
      R[c:$t:rate]=$rate
      say "c $t round $round: p50 $(jget "$json" .latency_us.p50) µs, p99 $(jget "$json" .latency_us.p99) µs, errors $(jget "$json" '.errors + .bad_status'), steal $(fmt "${R[c:$t:$round:steal]}") %, core 1 stalls $(fmt "${R[c:$t:$round:stall_ms]:-}" 1) ms (longest $(fmt "${R[c:$t:$round:stall_max]:-}" 1)), core 0 $(fmt "${R[c:$t:$round:stall0_ms]:-}" 1) ms, proxy major faults ${R[c:$t:$round:majflt]:-0}${R[c:$t:$round:loop]:+, fwd loop ticks over 5 ms late: ${R[c:$t:$round:loop]}}"
    done
  done
  for t in "${targets_c[@]}"; do
    [[ -s "$work/loadgen-$t.all" ]] || continue
    R[c:$t:json]="$(jq -sc 'def med(f): (map(f) | sort | .[(length - 1) / 2 | floor]);
      { completed: (map(.completed) | add), errors: (map(.errors) | add),
        bad_status: (map(.bad_status) | add),
        latency_us: { p50: med(.latency_us.p50), p99: med(.latency_us.p99),
                      p999: med(.latency_us.p999), max: med(.latency_us.max) } }' "$work/loadgen-$t.all")"
    # Proxy CPU: the mean over rounds; other and steal: the worst round.
    cpu=0; core0=0; other=""; steal=""; stall=""; stall0=""; majflt=0
    for ((round = 1; round <= lat_rounds; round++)); do
      cpu="$(fcalc "$cpu + ${R[c:$t:$round:cpu_pct]:-0} / $lat_rounds")"
      core0="$(fcalc "$core0 + ${R[c:$t:$round:core0]:-0} / $lat_rounds")"
      other="$(fmax "$other" "${R[c:$t:$round:other]:-0}")"
      steal="$(fmax "$steal" "${R[c:$t:$round:steal]:-0}")"
      [[ -z "${R[c:$t:$round:stall_ms]:-}" ]] || stall="$(fmax "$stall" "${R[c:$t:$round:stall_ms]}")"
      [[ -z "${R[c:$t:$round:stall0_ms]:-}" ]] || stall0="$(fmax "$stall0" "${R[c:$t:$round:stall0_ms]}")"
      majflt=$((majflt + ${R[c:$t:$round:majflt]:-0}))
    done
    [[ "$t" == direct ]] || R[c:$t:cpu_pct]=$cpu
    [[ "$t" == direct ]] || R[c:$t:majflt]=$majflt
    R[c:$t:core0]=$core0
    R[c:$t:other]=$other
    R[c:$t:steal]=$steal
    R[c:$t:stall]=$stall
    R[c:$t:stall0]=$stall0
  done
  emit ""
  emit "## (c) Latency at a fixed rate: $lat_rate req/s, half of fwd's peak in (a)"
  emit ""
  emit "fwd_loadgen, open loop: $lat_conns connections, requests sent on a fixed schedule for ${lat_dur} s after 1 s of warm-up, latency counted from each request's *scheduled* send time (no coordinated omission). $lat_rounds round(s), each visiting every target in turn; each percentile is the median over the rounds, completed and errors are summed, proxy CPU % and core 0 % (how busy the load generator's and upstream's core was) are the mean, other % and steal % the worst round. Added = via the proxy minus direct, per percentile. On a virtual machine, a few ms of steal on the proxy's CPU stall every request in flight: the p99 column moves with the steal column. The TCP relay (\`fwd_tcp_relay\`, on the proxy's core) does no work at all: one epoll loop copying bytes between each client connection and an upstream connection of its own. What it adds is what the extra hop costs on this machine by itself: two more loopback round trips and wake-ups across the cores, with the load generator and the upstream sharing core 0. No proxy here can add less. Core 1 stalls: \`fwd_hiccup\` sleeps 1 ms at a time on the proxy's core under SCHED_FIFO through each measured run; the column adds up its oversleeps over 0.5 ms (the worst round). They are time the core itself was gone (the hypervisor, interrupts), which the steal counter often does not show; a round with more than 1 % of its time gone counts as disturbed. Core 0 stalls: the same on the load generator's and upstream's core, where a stall delays every request whatever the proxy (for information; it does not mark the report). Proxy major faults: pages the proxy had to read back from disk during the runs (summed)."
  emit ""
  emit "| Target | rate req/s | completed | p50 ms | p99 ms | p99.9 ms | max ms | added p50 ms | added p99 ms | added p99.9 ms | proxy CPU % | core 0 % | other % | steal % | core 1 stalls ms | core 0 stalls ms | proxy major faults | errors |"
  emit "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  dj="${R[c:direct:json]:-}"
  for t in "${targets_c[@]}"; do
    json="${R[c:$t:json]:-}"
    [[ -n "$json" ]] || continue
    cells=""
    for q in p50 p99 p999; do
      if [[ "$t" == direct || -z "$dj" ]]; then
        cells+=" — |"
      else
        cells+=" $(fmt "$(fcalc "($(jget "$json" .latency_us.$q) - $(jget "$dj" .latency_us.$q)) / 1000")" 3) |"
      fi
    done
    label="$t"
    [[ "$t" != direct ]] || label="direct (fake upstream)"
    [[ "$t" != relay ]] || label="TCP relay (does no work: the floor of a hop)"
    [[ "$t" != portkey ]] || label="portkey (at half its own peak)"
    [[ "$t" != fwd-lr ]] || label="fwd (at the limited targets' rate)"
    emit "| $label | ${R[c:$t:rate]} | $(jget "$json" .completed) | $(fmt "$(fcalc "$(jget "$json" .latency_us.p50) / 1000")" 3) | $(fmt "$(fcalc "$(jget "$json" .latency_us.p99) / 1000")" 3) | $(fmt "$(fcalc "$(jget "$json" .latency_us.p999) / 1000")" 3) | $(fmt "$(fcalc "$(jget "$json" .latency_us.max) / 1000")" 3) |$cells $(fmt "${R[c:$t:cpu_pct]:-}") | $(fmt "${R[c:$t:core0]:-}") | $(fmt "${R[c:$t:other]:-}") | $(fmt "${R[c:$t:steal]:-}") | $(fmt "${R[c:$t:stall]:-}" 1) | $(fmt "${R[c:$t:stall0]:-}" 1) | ${R[c:$t:majflt]:-—} | $(jget "$json" '.errors + .bad_status') |"
  done
  if ((limits)) && [[ -n "${R[c:fwd-lr:json]:-}" ]]; then
    lr="${R[c:fwd-lr:json]}"
    for t in fwd-lim fwd-redis; do
      json="${R[c:$t:json]:-}"
      [[ -n "$json" ]] || continue
      emit ""
      emit "$t against fwd at $lim_rate req/s: p50 $(fmt "$(fcalc "$(jget "$json" .latency_us.p50) / 1000")" 3) vs $(fmt "$(fcalc "$(jget "$lr" .latency_us.p50) / 1000")" 3) ms, adds $(fmt "$(fcalc "($(jget "$json" .latency_us.p50) - $(jget "$lr" .latency_us.p50)) / 1000")" 3) ms at p50 and $(fmt "$(fcalc "($(jget "$json" .latency_us.p99) - $(jget "$lr" .latency_us.p99)) / 1000")" 3) ms at p99."
    done
  fi
  if [[ -n "${R[c:fwd:1:loop]:-}" ]]; then
    loops=""
    for ((round = 1; round <= lat_rounds; round++)); do loops+="${loops:+, }${R[c:fwd:$round:loop]:-—}"; done
    emit ""
    emit "fwd's own event loop (\`fwd_worker_loop_delay_seconds\`), per round: $loops of its 100 ms ticks ran more than 5 ms late. A late tick while core 1 had no stall is fwd's worker busy or blocked for that long; with a stall, it is the core that was gone."
  fi
  if [[ -n "$portkey_skip" ]]; then
    emit ""
    emit "Portkey: skipped — $portkey_skip."
  fi
fi

# ---------------------------------------------------------------- (d) config propagation
if want d; then
  say "(d) config propagation: $writes fwdctl writes, 3 data planes"
  prop_json="$("$propagation" --fwdctl "$ctl_bin" --server "127.0.0.1:$cp_port" --upstream fake \
    --admin "127.0.0.1:$fwd_admin,127.0.0.1:$dpb_admin,127.0.0.1:$dpc_admin" --writes "$writes" \
    2>"$work/propagation.err" || true)"
  emit ""
  emit "## (d) Config propagation: one \`fwdctl\` write until 3 data planes applied it"
  emit ""
  if [[ -z "$prop_json" ]]; then
    emit "Failed: $(tail -3 "$work/propagation.err")"
  else
    R[d:json]="$prop_json"
    emit "fwd_propagation_bench: one untimed write first (fwdctl last ran at setup, minutes ago, and this VM's DAMON pages out files idle for a minute or more: the first fwdctl after 4 idle minutes took 739 ms, reading its shared libraries back from disk), then $writes × \`fwdctl upstream update fake --timeout Ns\`, each timed from spawning fwdctl (monotonic clock) until all three data planes' \`/metrics\` show a higher \`fwd_config_version\` (polled in a tight loop, ~0.2 ms apart)."
    emit ""
    emit "| Measured | p50 ms | p99 ms | max ms |"
    emit "|---|---:|---:|---:|"
    emit "| write → applied on all 3 | $(jget "$prop_json" .all_ms.p50) | $(jget "$prop_json" .all_ms.p99) | $(jget "$prop_json" .all_ms.max) |"
    emit "| fwdctl process alone (spawn → exit) | $(jget "$prop_json" .fwdctl_ms.p50) | $(jget "$prop_json" .fwdctl_ms.p99) | $(jget "$prop_json" .fwdctl_ms.max) |"
    emit "| fwdctl exit → applied on all 3 (0: all had it before fwdctl returned) | $(jget "$prop_json" .after_fwdctl_ms.p50) | $(jget "$prop_json" .after_fwdctl_ms.p99) | $(jget "$prop_json" .after_fwdctl_ms.max) |"
    emit ""
    emit "Completed $(jget "$prop_json" .completed) of $writes writes, $(jget "$prop_json" .failures) timed out (10 s). The slowest was write $(($(jget "$prop_json" .slowest_round) + 1)) of $writes (one slow write among fast ones is a stall, not the path every write takes)."
  fi
fi

# ---------------------------------------------------------------- (e) memory
upstream_conns() {  # PIDS... -> their established connections to the fake upstream
  local pid n=0
  for pid in "$@"; do
    n=$((n + $(ss -Htnp state established "( dport = :$up_port )" | grep -c "pid=$pid," || true)))
  done
  echo "$n"
}
hold() {  # NAME URL HEADERS...: hold $streams streams open; sets R[e:NAME:*]
  local name="$1" url="$2" pids
  shift 2
  read -ra pids <<<"$hold_pids"
  wait_quiet
  sleep 1
  R[e:$name:idle]="$(rss_kb "${pids[@]}")"
  R[e:$name:before]="$(upstream_conns "${pids[@]}")"
  "$loadgen" --url "$url" --mode hold --streams "$streams" --ramp 3 --duration 60 --timeout 20 \
    --header 'Content-Type: application/json' --header 'x-fake-chunks: 1000000' \
    --header 'x-fake-chunk-delay-ms: 1000' "$@" --body "$stream_body" \
    >"$work/hold-$name.out" 2>"$work/hold-$name.err" &
  local lg=$! i
  started+=("$lg")
  for ((i = 0; i < 400; i++)); do
    grep -q '^open ' "$work/hold-$name.out" && break
    kill -0 "$lg" 2>/dev/null || break
    sleep 0.1
  done
  R[e:$name:open]="$(grep -m1 '^open ' "$work/hold-$name.out" | awk '{ print $2 }')"
  sleep 2
  R[e:$name:held]="$(rss_kb "${pids[@]}")"
  kill -TERM "$lg" 2>/dev/null || true
  wait "$lg" 2>/dev/null || true
  R[e:$name:summary]="$(tail -1 "$work/hold-$name.out")"
  # The clients are gone: the proxy should close the upstream side of every stream too (its
  # keep-alive pool may keep up to 64 idle ones).
  sleep 3
  R[e:$name:left]="$(upstream_conns "${pids[@]}")"
  local open="${R[e:$name:open]:-0}"
  if [[ -n "$open" && "$open" -gt 0 ]]; then
    R[e:$name:per]="$(fcalc "(${R[e:$name:held]} - ${R[e:$name:idle]}) / $open")"
  fi
  say "e $name: idle $(fmt "$(fcalc "${R[e:$name:idle]} / 1024")" 1) MB, ${open:-0} streams open: $(fmt "$(fcalc "${R[e:$name:held]} / 1024")" 1) MB"
}
if want e; then
  say "(e) memory: RSS idle and with $streams open streams"
  hold_pids="$pid_dp_b"
  hold fwd "http://127.0.0.1:$dpb_port/v1/chat/completions" --header "Authorization: Bearer $fwd_key"
  if [[ -n "${pid_nginx:-}" ]]; then
    hold_pids="$(nginx_pids)"
    hold nginx "http://127.0.0.1:$nginx_port/v1/chat/completions"
  fi
  emit ""
  emit "## (e) Memory: RSS idle and with $streams concurrent open streams"
  emit ""
  emit "fwd: a fresh data plane (\`--workers 1\`, config applied, no traffic before). Streams from \`fwd_loadgen --mode hold\`: each an SSE response the fake upstream trickles one event per second, all kept open together; RSS (\`VmRSS\`, nginx master+worker) read 2 s after the last opened."
  emit ""
  emit "| Target | RSS idle MB | streams open | RSS with streams MB | KB per open stream | its upstream connections: before → 3 s after the clients left |"
  emit "|---|---:|---:|---:|---:|---:|"
  for t in fwd nginx; do
    [[ -n "${R[e:$t:idle]:-}" ]] || continue
    emit "| $t | $(fmt "$(fcalc "${R[e:$t:idle]} / 1024")" 1) | ${R[e:$t:open]:-0} | $(fmt "$(fcalc "${R[e:$t:held]} / 1024")" 1) | $(fmt "${R[e:$t:per]:-}" 1) | ${R[e:$t:before]:-} → ${R[e:$t:left]:-} |"
  done
fi

# ---------------------------------------------------------------- targets
load_bound() {  # WORKLOAD REFERENCE: caveats when the load side's core was saturated
  local ref_c fwd_c notes=()
  ref_c="${R[$1:$2:core0]:-0}"
  fwd_c="${R[$1:fwd:core0]:-0}"
  if awk -v c="$fwd_c" 'BEGIN { exit !(c >= 95) }'; then
    notes+=("fwd's run had core 0 at $(fmt "$fwd_c") %: the load side capped fwd, the ratio understates it")
  fi
  if awk -v c="$ref_c" 'BEGIN { exit !(c >= 95) }'; then
    notes+=("$2's run had core 0 at $(fmt "$ref_c") %: the load side capped $2, the ratio flatters fwd")
  fi
  if ((${#notes[@]})); then
    local joined
    joined="$(printf '%s; ' "${notes[@]}")"
    printf ' (%s)' "${joined%; }"
  fi
}
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }
emit ""
emit "## Targets (issue 3)"
emit ""
emit "| Target | Measured | Verdict |"
emit "|---|---|---|"
na="| n/a (not run) |"
if [[ -n "${R[a:fwd:rate]:-}" && -n "${R[a:nginx:rate]:-}" ]]; then
  read -r x lo hi <<<"$(paired a fwd nginx rate)"
  emit "| (a) JSON throughput ≥ 0.9× nginx | $(fmt "$x" 2)× (rounds $(fmt "$lo" 2)–$(fmt "$hi" 2)×)$(load_bound a nginx) | $(verdict "$x >= 0.9") |"
  read -r x lo hi <<<"$(paired a fwd nginx cpu_us)"
  emit "| (a) CPU/request ≤ 1.2× nginx | $(fmt "$x" 2)× (rounds $(fmt "$lo" 2)–$(fmt "$hi" 2)×; medians $(fmt "${R[a:fwd:cpu_us]}" 1) vs $(fmt "${R[a:nginx:cpu_us]}" 1) µs) | $(verdict "$x <= 1.2") |"
else
  emit "| (a) JSON throughput ≥ 0.9× nginx, CPU/request ≤ 1.2× nginx $na"
fi
if [[ -n "${R[a:fwd:rate]:-}" && -n "${R[a:portkey:rate]:-}" ]]; then
  read -r x lo hi <<<"$(paired a fwd portkey rate)"
  emit "| (a) JSON throughput ≥ 50× Portkey | $(fmt "$x" 1)× (rounds $(fmt "$lo" 1)–$(fmt "$hi" 1)×) | $(verdict "$x >= 50") |"
else
  emit "| (a) JSON throughput ≥ 50× Portkey $na"
fi
if [[ -n "${R[b:fwd:rate]:-}" && -n "${R[b:haproxy:rate]:-}" ]]; then
  read -r x lo hi <<<"$(paired b fwd haproxy rate)"
  late=""
  [[ -z "${R[ev:haproxy:added99]:-}" ]] || late="; HAProxy's events arrive up to $(fmt "${R[ev:haproxy:added99]}") ms late at p99, fwd's $(fmt "${R[ev:fwd:added99]:-}" 2) ms"
  emit "| (b) SSE streams/s ≥ 1.0× HAProxy, default config, events written one by one | $(fmt "$x" 2)× (rounds $(fmt "$lo" 2)–$(fmt "$hi" 2)×)$(load_bound b haproxy)$late | $(verdict "$x >= 1.0") |"
  if [[ -n "${R[b:haproxy-nd:rate]:-}" ]]; then
    read -r x lo hi <<<"$(paired b fwd haproxy-nd rate)"
    emit "| (b) SSE streams/s ≥ 1.0× HAProxy with http-no-delay (events on time, as fwd sends them), events written one by one | $(fmt "$x" 2)× (rounds $(fmt "$lo" 2)–$(fmt "$hi" 2)×)$(load_bound b haproxy-nd) | $(verdict "$x >= 1.0") |"
  fi
  if [[ -n "${R[b:fwd:cpu_us]:-}" && -n "${R[b:haproxy:cpu_us]:-}" ]]; then
    emit "| (b) for reference, not a target: CPU per stream vs HAProxy, HAProxy no-delay | $(ratio "${R[b:fwd:cpu_us]}" "${R[b:haproxy:cpu_us]}") ($(fmt "${R[b:fwd:cpu_us]}") vs $(fmt "${R[b:haproxy:cpu_us]}") µs), $(ratio "${R[b:fwd:cpu_us]}" "${R[b:haproxy-nd:cpu_us]:-}") ($(fmt "${R[b:haproxy-nd:cpu_us]:-}") µs) | |"
  fi
else
  emit "| (b) SSE streams/s ≥ 1.0× HAProxy $na"
fi
if [[ -n "${R[bb:fwd:rate]:-}" && -n "${R[bb:haproxy:rate]:-}" ]]; then
  read -r x lo hi <<<"$(paired bb fwd haproxy rate)"
  emit "| (b) SSE streams/s ≥ 1.0× HAProxy, each response sent at once | $(fmt "$x" 2)× (rounds $(fmt "$lo" 2)–$(fmt "$hi" 2)×)$(load_bound bb haproxy) | $(verdict "$x >= 1.0") |"
  if [[ -n "${R[bb:fwd:cpu_us]:-}" && -n "${R[bb:haproxy:cpu_us]:-}" ]]; then
    emit "| (b) for reference, not a target: CPU per stream vs HAProxy, HAProxy no-delay, each response sent at once | $(ratio "${R[bb:fwd:cpu_us]}" "${R[bb:haproxy:cpu_us]}") ($(fmt "${R[bb:fwd:cpu_us]}") vs $(fmt "${R[bb:haproxy:cpu_us]}") µs), $(ratio "${R[bb:fwd:cpu_us]}" "${R[bb:haproxy-nd:cpu_us]:-}") ($(fmt "${R[bb:haproxy-nd:cpu_us]:-}") µs) | |"
  fi
fi
if [[ -n "${R[c:fwd:json]:-}" && -n "${R[c:direct:json]:-}" ]]; then
  a99="$(fcalc "($(jget "${R[c:fwd:json]}" .latency_us.p99) - $(jget "${R[c:direct:json]}" .latency_us.p99)) / 1000")"
  a50="$(fcalc "($(jget "${R[c:fwd:json]}" .latency_us.p50) - $(jget "${R[c:direct:json]}" .latency_us.p50)) / 1000")"
  # The same percentile added by the other proxies in this run, for scale.
  others() {  # p50|p99
    local t text="" name
    for t in relay nginx haproxy; do
      [[ -n "${R[c:$t:json]:-}" ]] || continue
      name="$t"
      [[ "$t" != relay ]] || name="a TCP relay that does no work"
      text+="${text:+, }$name $(fmt "$(fcalc "($(jget "${R[c:$t:json]}" .latency_us.$1) - $(jget "${R[c:direct:json]}" .latency_us.$1)) / 1000")" 3)"
    done
    [[ -z "$text" ]] || echo " (same run: $text ms)"
  }
  # Queueing on the load side's core grows the tail of every hop alike once that core is nearly
  # always busy: say so next to the verdict.
  busy0=""
  if awk -v b="${R[c:fwd:core0]:-0}" 'BEGIN { exit !(b >= 85) }'; then
    busy0="; core 0 (load generator and upstream) was $(fmt "${R[c:fwd:core0]}") % busy in fwd's rounds, $(fmt "${R[c:direct:core0]:-}") % in direct's: with so little headroom, every stall there turns into a backlog that every hop's tail shows"
  fi
  emit "| (c) added latency p99 ≤ 1 ms at half of fwd's peak | $(fmt "$a99" 3) ms$(others p99)$busy0 | $(verdict "$a99 <= 1") |"
  emit "| (c) added latency p50 ≤ 0.2 ms at half of fwd's peak | $(fmt "$a50" 3) ms$(others p50) | $(verdict "$a50 <= 0.2") |"
else
  emit "| (c) added latency p99 ≤ 1 ms, p50 ≤ 0.2 ms $na"
fi
if [[ -n "${R[d:json]:-}" ]]; then
  x="$(jget "${R[d:json]}" .all_ms.p99)"
  emit "| (d) propagation p99 ≤ 100 ms to all 3 data planes | $x ms | $(verdict "$x <= 100 && $(jget "${R[d:json]}" .failures) == 0") |"
else
  emit "| (d) propagation p99 ≤ 100 ms $na"
fi
if [[ -n "${R[e:fwd:idle]:-}" ]]; then
  x="$(fcalc "${R[e:fwd:idle]} / 1024")"
  emit "| (e) idle RSS ≤ 30 MB per data plane | $(fmt "$x" 1) MB | $(verdict "$x <= 30") |"
  if [[ -n "${R[e:fwd:per]:-}" ]]; then
    emit "| (e) ≤ 40 KB per open stream | $(fmt "${R[e:fwd:per]}" 1) KB (${R[e:fwd:open]} streams) | $(verdict "${R[e:fwd:per]} <= 40 && ${R[e:fwd:open]} == $streams") |"
  else
    emit "| (e) ≤ 40 KB per open stream | no stream opened | MISS |"
  fi
else
  emit "| (e) idle RSS ≤ 30 MB, ≤ 40 KB per open stream $na"
fi

if ((disturbed)); then
  emit ""
  emit "**Disturbed:** some runs shared the CPUs with other processes (\"other %\" above 15, the hypervisor stole over 5 % of a core, or in (c) the proxy's core was gone for over 1 % of a round); rerun on a quiet machine (\`--wait-quiet 300\` waits for one) before drawing conclusions from those rows."
fi

# Did fwd stay up? A crash is a finding, not noise.
for name in fwd fwd-w2 dp-b dp-c; do
  var="pid_${name//-/_}"
  [[ -n "${!var:-}" ]] || continue
  if ! kill -0 "${!var}" 2>/dev/null; then
    emit ""
    emit "**fwd data plane \`$name\` died during the run**: $(tail -3 "$work/$name.log" | tr '\n' ' ')"
  fi
done

if [[ "$out" != "-" ]]; then
  mkdir -p "$(dirname "$out")"
  cp "$report" "$out"
  say "report written to $out"
fi
