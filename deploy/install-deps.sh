#!/usr/bin/env bash
# Installs the Debian 12 packages fwd needs to build, test and run, skipping those already
# present. Safe to run repeatedly. Used by quickstart.sh and test.sh.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git ca-certificates curl openssl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libboost1.81-dev libboost-url1.81-dev
  nlohmann-json3-dev libsqlite3-dev libssl-dev prometheus-cpp-dev libsimdjson-dev
  libgtest-dev libgmock-dev googletest
  libhiredis-dev  # the data plane's Redis client
  redis-server    # Redis for limits shared between data planes; tests start their own
  libpq-dev       # the control plane's Postgres client (--records-postgres)
  postgresql      # Postgres for records; tests start their own
  haproxy  # the load balancer of the rolling-restart test
)
if [[ "${FWD_WITH_NODE:-1}" == 1 ]] && ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "fwd: installing Debian packages: ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) != 0 ]]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# libboost1.81-dev replaces the default 1.74 dev packages; apt removes those.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
