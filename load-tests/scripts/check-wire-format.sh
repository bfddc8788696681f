#!/usr/bin/env bash
# Compares the SES simulator's wire format with two independent SES v2 emulators:
# the npm package aws-ses-v2-local and moto's server (PyPI moto[server]). Both are
# installed outside the repository (in WIRE_CHECK_DIR, a temporary folder by default)
# and listen on 127.0.0.1 only. The Rust test `wire_format` then makes the same calls
# with aws-sdk-sesv2 against the simulator and each emulator and prints what differs.
#
# Usage: load-tests/scripts/check-wire-format.sh
# Settings: WIRE_CHECK_DIR, SES_LOCAL_PORT (default 18005), MOTO_PORT (default 15000),
# CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

work_dir="${WIRE_CHECK_DIR:-$(mktemp -d)}"
ses_local_port="${SES_LOCAL_PORT:-18005}"
moto_port="${MOTO_PORT:-15000}"
ses_local_version="2.10.2"
mkdir -p "$work_dir"

step() { printf '\n==> %s\n' "$*"; }

ses_local_bin="$work_dir/npm/node_modules/.bin/aws-ses-v2-local"
if [[ ! -x "$ses_local_bin" ]]; then
    step "installing aws-ses-v2-local@$ses_local_version into $work_dir/npm"
    npm install --prefix "$work_dir/npm" --no-audit --no-fund "aws-ses-v2-local@$ses_local_version" >/dev/null
fi

moto_bin="$(command -v moto_server || true)"
if [[ -z "$moto_bin" ]]; then
    step "installing moto[server] into $work_dir/venv"
    python3 -m venv "$work_dir/venv"
    "$work_dir/venv/bin/pip" install --quiet "moto[server]"
    moto_bin="$work_dir/venv/bin/moto_server"
fi

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

step "starting aws-ses-v2-local on 127.0.0.1:$ses_local_port"
"$ses_local_bin" --host 127.0.0.1 --port "$ses_local_port" >"$work_dir/aws-ses-v2-local.log" 2>&1 &
pids+=($!)

step "starting moto_server on 127.0.0.1:$moto_port"
"$moto_bin" -H 127.0.0.1 -p "$moto_port" >"$work_dir/moto.log" 2>&1 &
pids+=($!)

wait_for_port() {
    local port="$1" name="$2"
    for _ in $(seq 1 60); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return
        fi
        sleep 0.5
    done
    echo "$name did not listen on 127.0.0.1:$port; see the logs in $work_dir" >&2
    exit 1
}
wait_for_port "$ses_local_port" aws-ses-v2-local
wait_for_port "$moto_port" moto_server

step "comparing (logs in $work_dir)"
export SES_WIRE_CHECK_ENDPOINTS="aws-ses-v2-local=http://127.0.0.1:$ses_local_port,moto=http://127.0.0.1:$moto_port"
cargo test -p load-tests --test it wire_format -- --ignored --nocapture
