#!/usr/bin/env bash
# fwd quickstart: installs what is missing, builds fwd, and runs a whole local gateway in the
# background — a demo upstream (the fake LLM server), a control plane and a data plane — with one
# client key, then makes a test call and prints how to use it. Run it from anywhere: it works in
# the repository root, and everything it writes lives under fwd-data/ there (git-ignored).
#
#   deploy/quickstart.sh            start (or check) everything; safe to run again
#   deploy/quickstart.sh stop       stop what quickstart started (pid files in fwd-data/pids)
#   deploy/quickstart.sh restart    stop, then start
#   deploy/quickstart.sh status     which processes run, and `fwdctl status`
#   deploy/quickstart.sh redis      also start a local redis-server (data in fwd-data/redis) and
#                                   count every limit there (fwdctl settings set redis_url);
#                                   `stop` stops it too
#
# Set OPENAI_API_KEY before starting to also get an upstream "openai" (api.openai.com); the data
# plane reads the variable from its own environment, the control plane never sees the secret.
#
# Environment: FWD_QUICKSTART_BUILD_DIR (default ./build-quickstart), FWD_SKIP_DEPS=1 (do not
# run deploy/install-deps.sh), FWD_HTTP_PORT (8000), FWD_ADMIN_PORT (9090), FWD_CP_PORT (7070),
# FWD_DEMO_PORT (8081), FWD_REDIS_PORT (6379).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

build="${FWD_QUICKSTART_BUILD_DIR:-$root/build-quickstart}"
http_port="${FWD_HTTP_PORT:-8000}"
admin_port="${FWD_ADMIN_PORT:-9090}"
cp_port="${FWD_CP_PORT:-7070}"
demo_port="${FWD_DEMO_PORT:-8081}"
redis_port="${FWD_REDIS_PORT:-6379}"

data="./fwd-data"          # the control plane's data dir: fwd.db, admin.token, node.token
logs="$data/logs"
pids="$data/pids"
state="$data/state"        # the data plane's state dir (last good snapshot)
keyfile="$data/quickstart.key"
node_id="quickstart"

cp_bin="$build/controlplane/fwd-controlplane"
dp_bin="$build/dataplane/fwd-dataplane"
ctl_bin="$build/cli/fwdctl"
fake_bin="$build/tests/fakes/fake_upstream"

# Started in this order, stopped in the reverse one (redis only by `quickstart.sh redis`).
services=(redis demo-upstream controlplane dataplane)

say() { printf 'quickstart: %s\n' "$*"; }
die() {
  printf 'quickstart: error: %s\n' "$*" >&2
  exit 1
}

log_of() { echo "$logs/$1.log"; }
pid_of() { echo "$pids/$1.pid"; }

binary_of() {
  case "$1" in
    demo-upstream) echo "$fake_bin" ;;
    controlplane) echo "$cp_bin" ;;
    dataplane) echo "$dp_bin" ;;
    # Debian's redis-server is a link to redis-check-rdb: the running process's exe is that.
    redis) readlink -f "$(command -v redis-server || echo redis-server)" ;;
  esac
}

ports_of() {
  case "$1" in
    demo-upstream) echo "$demo_port" ;;
    controlplane) echo "$cp_port" ;;
    dataplane) echo "$http_port $admin_port" ;;
    redis) echo "$redis_port" ;;
  esac
}

# Prints the pid of a service started by quickstart that still runs, or fails.
running_pid() {
  local file pid exe
  file="$(pid_of "$1")"
  [[ -f "$file" ]] || return 1
  pid="$(<"$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # The pid must still be our binary, not a recycled pid of something else.
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [[ "$exe" == *"/$(basename "$(binary_of "$1")")"* ]] || return 1
  echo "$pid"
}

# True when the binary a service runs was rebuilt since it started.
is_stale() {
  local exe
  exe="$(readlink "/proc/$1/exe" 2>/dev/null || true)"
  [[ "$exe" == *" (deleted)" ]]
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

show_log() {
  local file
  file="$(log_of "$1")"
  if [[ -f "$file" ]]; then
    printf '\n--- last lines of %s ---\n' "$file" >&2
    tail -n 30 "$file" >&2
    printf -- '---\n' >&2
  fi
}

fail_service() {
  show_log "$1"
  die "$2"
}

# wait_until SERVICE SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s; fails with the
# service's log tail if the service dies or the time runs out.
wait_until() {
  local service="$1" seconds="$2" what="$3"
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! running_pid "$service" >/dev/null; then
      fail_service "$service" "$service exited while waiting for $what (log: $(log_of "$service"))"
    fi
    if ((SECONDS >= deadline)); then
      fail_service "$service" "timed out after ${seconds}s waiting for $what (log: $(log_of "$service"))"
    fi
    sleep 0.2
  done
}

stop_service() {
  local service="$1" pid waited=0
  if ! pid="$(running_pid "$service")"; then
    rm -f "$(pid_of "$service")"
    return 0
  fi
  say "stopping $service (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  # The data plane drains requests in flight for up to 30 s on SIGTERM.
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= 400)); then
      say "$service did not stop within 40s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$(pid_of "$service")"
}

cmd_stop() {
  local i stopped=0
  for ((i = ${#services[@]} - 1; i >= 0; i--)); do
    if running_pid "${services[i]}" >/dev/null; then
      stopped=1
    fi
    stop_service "${services[i]}"
  done
  if ((stopped)); then
    say "stopped. Config, tokens and keys stay in $data; logs in $logs."
  else
    say "nothing was running."
  fi
}

cmd_status() {
  local s pid
  for s in "${services[@]}"; do
    if pid="$(running_pid "$s")"; then
      printf '%-14s running (pid %s), log %s\n' "$s" "$pid" "$(log_of "$s")"
    else
      printf '%-14s stopped\n' "$s"
    fi
  done
  if running_pid controlplane >/dev/null && [[ -x "$ctl_bin" ]]; then
    echo
    FWD_ADMIN_TOKEN="$(<"$data/admin.token")" "$ctl_bin" --server "127.0.0.1:$cp_port" status
  fi
}

# start_service SERVICE READY-PATTERN COMMAND...: starts COMMAND detached (own session, so
# closing the terminal does not kill it) unless it already runs; waits for READY-PATTERN in its
# log.
start_service() {
  local service="$1" pattern="$2"
  shift 2
  local pid log
  log="$(log_of "$service")"
  if pid="$(running_pid "$service")"; then
    if is_stale "$pid"; then
      say "$service runs an older build; restarting it"
      stop_service "$service"
    else
      say "$service already running (pid $pid)"
      return 0
    fi
  fi
  local p
  for p in $(ports_of "$service"); do
    if port_busy "$p"; then
      die "port $p is in use by a process quickstart did not start; stop it, or pick other" \
        "ports (FWD_HTTP_PORT, FWD_ADMIN_PORT, FWD_CP_PORT, FWD_DEMO_PORT)"
    fi
  done
  printf '\n=== %s: %s\n' "$(date -Is)" "$*" >>"$log"
  local start_line
  start_line="$(wc -l <"$log")"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$(pid_of "$service")"
  # The binaries print "listening ..." on stdout once bound.
  wait_until "$service" 20 "$service to listen" \
    bash -c "tail -n +$((start_line + 1)) '$log' | grep -q '$pattern'"
  say "$service started (pid $(<"$(pid_of "$service")")), log $log"
}

fwdctl() { "$ctl_bin" --server "127.0.0.1:$cp_port" "$@"; }

# Is the key NAME present and not revoked? (`key list -o json` prints one field per line.)
key_active() {
  fwdctl key list -o json | awk -v name="$1" '
    $1 == "\"name\":" { current = $2; gsub(/[",]/, "", current) }
    $1 == "\"revoked\":" && current == name { found = 1; active = ($2 == "null") }
    END { exit !(found && active) }'
}

key_exists() {
  fwdctl key list -o json | grep -q "\"name\": \"$1\","
}

node_in_sync() {
  fwdctl status -o json | awk -v id="$node_id" '
    $1 == "\"node_id\":" { current = $2; gsub(/[",]/, "", current) }
    $1 == "\"in_sync\":" && current == id && $2 ~ /^true/ { ok = 1 }
    END { exit !ok }'
}

build_fwd() {
  local targets=(fwd-controlplane fwd-dataplane fwdctl fake_upstream)
  local build_log="$logs/build.log"
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    local generator=()
    if command -v ninja >/dev/null 2>&1; then
      generator=(-G Ninja)
    fi
    say "configuring $build"
    # The demo upstream (fake_upstream) lives in the tests tree, so tests are configured; only
    # the four binaries below are built.
    if ! cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DFWD_BUILD_TESTS=ON >"$build_log" 2>&1; then
      tail -n 40 "$build_log" >&2
      die "cmake configure failed (full log: $build_log)"
    fi
  fi
  say "building ${targets[*]} in $build (the first build takes several minutes; log: $build_log)"
  cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}" >>"$build_log" 2>&1 &
  local builder=$! last=$SECONDS
  while kill -0 "$builder" 2>/dev/null; do
    sleep 1
    if ((SECONDS - last >= 20)); then
      last=$SECONDS
      say "  still building: $(grep -o '^\[[0-9]*/[0-9]*\]' "$build_log" | tail -n 1) ($SECONDS s)"
    fi
  done
  if ! wait "$builder"; then
    tail -n 40 "$build_log" >&2
    die "build failed (full log: $build_log)"
  fi
}

cmd_start() {
  local t0=$SECONDS
  [[ -d "$data" ]] || mkdir -m 700 "$data"
  mkdir -p "$logs" "$pids"

  if [[ "${FWD_SKIP_DEPS:-0}" != 1 ]]; then
    say "checking Debian packages (deploy/install-deps.sh)"
    # Node.js is only needed by the SDK tests (deploy/test.sh installs it).
    FWD_WITH_NODE="${FWD_WITH_NODE:-0}" "$root/deploy/install-deps.sh"
  fi
  build_fwd

  # Fail before starting anything if a port is taken by a process quickstart did not start.
  local service port
  for service in "${services[@]}"; do
    [[ "$service" != redis ]] || continue
    if ! running_pid "$service" >/dev/null; then
      for port in $(ports_of "$service"); do
        if port_busy "$port"; then
          die "port $port (for $service) is in use by a process quickstart did not start;" \
            "stop it, or pick other ports (FWD_HTTP_PORT, FWD_ADMIN_PORT, FWD_CP_PORT," \
            "FWD_DEMO_PORT)"
        fi
      done
    fi
  done

  start_service demo-upstream "listening http" \
    "$fake_bin" --listen "127.0.0.1:$demo_port" --name demo --models demo-model
  start_service controlplane "listening grpc" \
    "$cp_bin" --listen "127.0.0.1:$cp_port" --data-dir "$data"
  [[ -s "$data/admin.token" ]] || fail_service controlplane "$data/admin.token is missing"
  # fwdctl would also read ./fwd-data/admin.token itself; an FWD_ADMIN_TOKEN from the caller's
  # shell (another cluster's) must not win.
  FWD_ADMIN_TOKEN="$(<"$data/admin.token")"
  export FWD_ADMIN_TOKEN
  wait_until controlplane 20 "the control plane to answer" fwdctl status

  # Upstreams. Names are unique; an existing upstream is left as it is.
  if ! fwdctl upstream get demo >/dev/null 2>&1; then
    fwdctl upstream add demo --base-url "http://127.0.0.1:$demo_port/v1" --model 'demo-*'
  fi
  local openai_env=""
  if fwdctl upstream get openai -o json 2>/dev/null | grep -q '"env": "OPENAI_API_KEY"'; then
    openai_env=yes
  fi
  if [[ -n "${OPENAI_API_KEY:-}" ]]; then
    # A data plane started without the variable must be restarted to see it (else it would
    # reject the config holding the upstream below).
    local pid
    if pid="$(running_pid dataplane)" &&
      ! tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -q '^OPENAI_API_KEY='; then
      say "restarting the data plane so it sees OPENAI_API_KEY"
      stop_service dataplane
    fi
    if [[ -z "$openai_env" ]] && ! fwdctl upstream get openai >/dev/null 2>&1; then
      fwdctl upstream add openai --base-url https://api.openai.com/v1 \
        --api-key-env OPENAI_API_KEY --model 'gpt-*' --model 'o*' --model 'chatgpt-*' \
        --model 'text-embedding-*' --model 'dall-e-*' --model 'gpt-image-*' \
        --model 'whisper-*' --model 'tts-*' --timeout 5m
    fi
  elif [[ -n "$openai_env" ]]; then
    # A data plane without the variable would reject (NACK) every config holding this upstream.
    say "OPENAI_API_KEY is not set: removing the upstream \"openai\" that an earlier run added"
    fwdctl upstream remove openai
  fi

  start_service dataplane "listening http" \
    "$dp_bin" --control-plane "127.0.0.1:$cp_port" --node-token-file "$data/node.token" \
    --listen "0.0.0.0:$http_port" --admin-listen "127.0.0.1:$admin_port" \
    --state-dir "$state" --node-id "$node_id" --drain-grace 0s  # no load balancer to wait for

  # The client key: created once, its secret kept in fwd-data/quickstart.key (mode 0600),
  # since the control plane never shows a secret again.
  local key_name="" secret=""
  if [[ -s "$keyfile" ]]; then
    read -r key_name secret <"$keyfile" || true
    if [[ -z "$secret" ]] || ! key_active "$key_name"; then
      say "the key in $keyfile is gone or revoked; creating a new one"
      key_name=""
    fi
  fi
  if [[ -z "$key_name" ]]; then
    key_name=quickstart
    local n=2
    while key_exists "$key_name"; do
      key_name="quickstart-$n"
      n=$((n + 1))
    done
    secret="$(fwdctl key create "$key_name" -o json | sed -n 's/^  "key": "\(.*\)",$/\1/p')"
    [[ -n "$secret" ]] || die "could not read the secret of the new key $key_name"
    (umask 077 && echo "$key_name $secret" >"$keyfile")
    say "created key \"$key_name\" (secret saved in $keyfile)"
  fi

  wait_until dataplane 30 "/readyz on 127.0.0.1:$admin_port" \
    curl -fsS "http://127.0.0.1:$admin_port/readyz"
  wait_until dataplane 30 "data plane \"$node_id\" to apply the current config (fwdctl status)" \
    node_in_sync

  # One real call through the gateway to the demo upstream.
  local answer
  if ! answer="$(curl -sS --max-time 10 -w '\nHTTP %{http_code}' \
    "http://127.0.0.1:$http_port/v1/chat/completions" \
    -H "Authorization: Bearer $secret" -H 'Content-Type: application/json' \
    -d '{"model":"demo-model","messages":[{"role":"user","content":"hello"}]}')" ||
    [[ "$answer" != *"HTTP 200" ]]; then
    printf '%s\n' "$answer" >&2
    fail_service dataplane "the test call through fwd failed"
  fi
  local reply
  reply="$(grep -o '"content":"[^"]*"' <<<"$answer" | head -n 1 | cut -d'"' -f4)"
  say "test call OK: POST /v1/chat/completions, model demo-model -> HTTP 200, reply \"$reply\""

  local openai_line=""
  if fwdctl upstream get openai >/dev/null 2>&1; then
    openai_line="
# OpenAI models go to api.openai.com with the data plane's OPENAI_API_KEY, e.g. model gpt-4o-mini."
  fi

  cat <<EOF

fwd is running ($((SECONDS - t0)) s). Client key "$key_name":

  export FWD_KEY=$secret

Chat:
  curl http://127.0.0.1:$http_port/v1/chat/completions -H "Authorization: Bearer \$FWD_KEY" \\
    -H 'Content-Type: application/json' \\
    -d '{"model":"demo-model","messages":[{"role":"user","content":"Hi"}]}'

Streaming (server-sent events, relayed as they arrive):
  curl -N http://127.0.0.1:$http_port/v1/chat/completions -H "Authorization: Bearer \$FWD_KEY" \\
    -H 'Content-Type: application/json' \\
    -d '{"model":"demo-model","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
$openai_line
Python (pip install openai):
  from openai import OpenAI
  client = OpenAI(base_url="http://127.0.0.1:$http_port/v1", api_key="$secret")
  print(client.chat.completions.create(model="demo-model",
        messages=[{"role": "user", "content": "Hi"}]).choices[0].message.content)

Node (npm install openai; in an .mjs file):
  import OpenAI from "openai";
  const client = new OpenAI({ baseURL: "http://127.0.0.1:$http_port/v1", apiKey: "$secret" });
  const r = await client.chat.completions.create({ model: "demo-model",
    messages: [{ role: "user", content: "Hi" }] });
  console.log(r.choices[0].message.content);

Operate it (from $root):
  alias fwdctl=$ctl_bin
  fwdctl status          # config version, every data plane, in sync or not
  fwdctl upstream list
  curl -s 127.0.0.1:$admin_port/metrics | grep ^fwd_

Logs:  $logs/{demo-upstream,controlplane,dataplane}.log
Stop:  deploy/quickstart.sh stop     (status: deploy/quickstart.sh status)
EOF
}

# A local Redis for limits exact across data planes (docs/dataplane.md#limits-in-redis-exact-across-data-planes):
# loopback only, its counts kept in fwd-data/redis (append-only file), so they survive restarts.
cmd_redis() {
  command -v redis-server >/dev/null ||
    die "redis-server is missing: run deploy/install-deps.sh (or apt-get install redis-server)"
  running_pid controlplane >/dev/null || cmd_start
  mkdir -p "$data/redis"
  start_service redis "Ready to accept connections" \
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$root/fwd-data/redis" \
    --appendonly yes --save ''
  FWD_ADMIN_TOKEN="$(<"$data/admin.token")"
  export FWD_ADMIN_TOKEN
  fwdctl settings set redis_url "redis://127.0.0.1:$redis_port/0" >/dev/null
  wait_until dataplane 30 "data plane \"$node_id\" to apply the Redis setting" node_in_sync
  cat <<EOF

Limits are now counted in Redis at 127.0.0.1:$redis_port (log $(log_of redis)), exact across
every data plane of this control plane. Try one:
  $ctl_bin key update $(cut -d' ' -f1 "$keyfile" 2>/dev/null || echo quickstart) --rate 5/minute
  curl -s 127.0.0.1:$admin_port/metrics | grep ^fwd_redis_
Back to counting in memory:  $ctl_bin settings set redis_url none
EOF
}

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart)
    cmd_stop
    cmd_start
    ;;
  status) cmd_status ;;
  redis) cmd_redis ;;
  -h | --help | help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command \"$1\": use start, stop, restart, status or redis" ;;
esac
