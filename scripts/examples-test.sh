#!/usr/bin/env bash
# Builds every example and runs each one that can run here, on 127.0.0.1 only, each checked by
# the viewer (`xray-view --strict`, which fails if the daemon or the X-Ray service would refuse
# a datagram) and by the count of datagrams it recorded:
#
#   demo           the README's first command (its own in-process viewer)
#   axum_service   axum + XRayServerLayer + XRayClientLayer over hyper-util's client
#   embassy_host   xray-embassy's EmbassyUdpTransport on two in-process embassy-net stacks
#   dynamodb       aws-sdk-dynamodb + XRayInterceptor against moto_server
#   lambda         lambda_runtime + xray-std's Lambda integration under cargo-lambda's emulator
#                  (and its SAM template checked by cfn-lint)
#
# The firmware example is built and run (QEMU) by scripts/test.sh, not here.
#
# `scripts/examples-test.sh --run` skips the install and build steps (everything built).
#
# Tools: cargo-lambda (pip) is installed, pinned, into a virtualenv in the target directory on
# first use; moto[server] by scripts/moto.sh (also used by scripts/test.sh) into another. After
# the build every cargo call runs with CARGO_NET_OFFLINE, and every server listens on
# 127.0.0.1: nothing here talks beyond loopback except pip and cargo fetching crates. Every
# wait is bounded and synchronised on an event (a "listening" line, a port accepting, a process
# exiting); a step that cannot run fails the script.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/debug
VENV=$TARGET/examples-venv
CARGO_LAMBDA_VERSION=1.9.2
WORK=$(mktemp -d)
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        # Each helper is started in its own process group (setsid): end the group.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Seconds since the script started (across the re-exec into the network namespace).
export EXAMPLES_TEST_T0=${EXAMPLES_TEST_T0:-$(date +%s)}
elapsed() { echo $(($(date +%s) - EXAMPLES_TEST_T0)); }
step() { printf '\n== %s (%ss)\n' "$*" "$(elapsed)"; }
fail() { printf 'examples-test: FAILED: %s\n' "$*" >&2; exit 1; }

# Waits (at most $3 seconds) until file $1 contains the pattern $2.
wait_for_line() {
    local deadline=$((SECONDS + $3))
    until grep -q -- "$2" "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "no '$2' in $1 after $3 s: $(tail -5 "$1" 2>/dev/null)"
        sleep 0.1
    done
}

# Waits (at most $2 seconds) until 127.0.0.1:$1 accepts a TCP connection.
wait_for_port() {
    local deadline=$((SECONDS + $2))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        ((SECONDS < deadline)) || fail "nothing accepts on 127.0.0.1:$1 after $2 s"
        sleep 0.1
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts `xray-view` on an ephemeral 127.0.0.1 port for example $1, to exit after $2
# datagrams (or 60 s); sets VIEW_ADDR and VIEW_PID.
start_viewer() {
    local name=$1 count=$2
    setsid "$BIN/xray-view" --address 127.0.0.1:0 --count "$count" --exit-after 60 --strict \
        --color never --record "$WORK/$name.jsonl" >"$WORK/$name.view" 2>"$WORK/$name.view.err" &
    VIEW_PID=$!
    PIDS+=("$VIEW_PID")
    wait_for_line "$WORK/$name.view.err" "listening on udp" 10
    VIEW_ADDR=$(sed -n 's/.*listening on udp \([0-9.]*:[0-9]*\).*/\1/p' "$WORK/$name.view.err")
    [[ -n $VIEW_ADDR ]] || fail "$name: cannot read the viewer's address"
}

# Waits for the viewer of example $1 and checks it exited 0 (no datagram refused) with $2
# datagrams recorded; prints what it drew.
check_viewer() {
    local name=$1 count=$2 rc=0 got
    wait "$VIEW_PID" || rc=$?
    echo "-- what xray-view received from $name:"
    cat "$WORK/$name.view"
    got=$(wc -l <"$WORK/$name.jsonl")
    ((rc == 0)) || fail "$name: xray-view --strict exited $rc: $(cat "$WORK/$name.view.err")"
    ((got == count)) || fail "$name: the viewer received $got datagrams, expected $count"
    echo "-- $name: $got/$count datagrams, none refused"
}

if [[ ${1:-} != --run ]]; then
    step "tools: cargo-lambda $CARGO_LAMBDA_VERSION (pip, in $VENV), moto[server] (scripts/moto.sh)"
    STAMP=$VENV/installed-$CARGO_LAMBDA_VERSION
    if [[ ! -e $STAMP ]]; then
        python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "cargo-lambda==$CARGO_LAMBDA_VERSION"
        touch "$STAMP"
    fi
    bash scripts/moto.sh >/dev/null

    step "build every example (debug, workspace target dir)"
    # With scripts/test.sh's feature selection and dev-dependencies (`--tests`), as its
    # `cargo test --workspace --features "$SHIPPED"` builds them: after that step every
    # dependency is built already and only the examples' binaries are linked here.
    SHIPPED=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
print(",".join(p["name"] + "/" + f for p in json.load(sys.stdin)["packages"]
               for f in sorted(p["features"]) if f != "default" and (p["name"], f) != ("xray-core", "small")))')
    cargo build --locked --workspace --features "$SHIPPED" --bins --tests

    # The runs need no network beyond loopback: where the kernel allows it, they run in a
    # network namespace of their own with only `lo`, which proves it.
    if unshare -rn sh -c 'ip link set lo up' 2>/dev/null; then
        step "run the examples in a network namespace with only loopback (unshare -rn)"
        rm -rf "$WORK"
        exec unshare -rn bash -c 'ip link set lo up && exec bash "$0" --run' \
            "$ROOT/scripts/examples-test.sh"
    fi
    step "run the examples (no network namespace here: unshare -rn is not allowed; every server is on 127.0.0.1)"
fi

# moto.sh installed it above (no network needed here): it prints the path.
MOTO_SERVER=$(bash scripts/moto.sh) || fail "moto_server not installed (scripts/moto.sh)"
# moto_server and cfn-lint (which moto[server] brings), then cargo-lambda.
export PATH=$VENV/bin:$(dirname "$MOTO_SERVER"):$PATH
[[ $(cargo lambda --version) == "cargo-lambda $CARGO_LAMBDA_VERSION"* ]] ||
    fail "cargo-lambda $CARGO_LAMBDA_VERSION not found in $VENV"
export CARGO_NET_OFFLINE=true
# The SDK must find nothing to read beyond what the example gives it.
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy

step "demo (cargo run -p xray-examples --bin demo)"
timeout 60 "$BIN/demo" || fail "demo exited $?"

step "tower_requests (the instruction-count program of scripts/bench-tower.sh)"
# It checks the tracer's counts itself and exits non-zero if they are off.
for mode in bare not-sampled sampled; do
    timeout 60 "$BIN/tower_requests" "$mode" 1000 || fail "tower_requests $mode exited $?"
done

step "loadgen --split and --vs-raw (the programs of scripts/bench-request.sh)"
# The core and std reference requests must make the same datagram, and nothing may be dropped.
timeout 60 "$BIN/loadgen" --split --requests 2000 --batch 500 >"$WORK/split.json" ||
    fail "loadgen --split exited $?"
timeout 60 "$BIN/loadgen" --vs-raw --requests 2000 --batch 500 >"$WORK/vs-raw.json" ||
    fail "loadgen --vs-raw exited $?"
python3 - "$WORK/split.json" "$WORK/vs-raw.json" <<'PY' || fail "loadgen: $(cat "$WORK/split.json" "$WORK/vs-raw.json")"
import json, sys
split, vs_raw = (json.loads(open(p).read().splitlines()[-1]) for p in sys.argv[1:])
assert split["requests"] == 2000 and vs_raw["requests"] == 2000, "request counts"
assert split["datagram_bytes"] == split["core_datagram_bytes"] == vs_raw["datagram_bytes"] > 0, \
    "the core and std reference requests differ in size"
for s in (split, vs_raw):
    assert s["dropped"] == 0 and s["raw_send_failed"] == 0, "drops"
print("loadgen: split", {k: round(v, 3) for k, v in split["share"].items()})
PY

step "axum_service --calls"
start_viewer axum 5
AWS_XRAY_DAEMON_ADDRESS=$VIEW_ADDR timeout 60 "$BIN/axum_service" --listen 127.0.0.1:0 --calls ||
    fail "axum_service exited $?"
check_viewer axum 5

step "embassy_host"
start_viewer embassy 3
AWS_XRAY_DAEMON_ADDRESS=$VIEW_ADDR timeout 60 "$BIN/embassy_host" || fail "embassy_host exited $?"
check_viewer embassy 3

step "dynamodb against moto_server"
MOTO_PORT=$(free_port)
setsid "$MOTO_SERVER" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=("$!")
wait_for_port "$MOTO_PORT" 60
start_viewer dynamodb 1
AWS_XRAY_DAEMON_ADDRESS=$VIEW_ADDR DYNAMODB_ENDPOINT=http://127.0.0.1:$MOTO_PORT \
    timeout 120 "$BIN/xray-example-dynamodb" || fail "xray-example-dynamodb exited $?"
check_viewer dynamodb 1
# What the interceptor must record on a client config (the tests in std-adapter/tests/aws_sdk.rs
# check the rest): the service as the name, the region, the table, the error code.
python3 - "$WORK/dynamodb.jsonl" <<'PY' || fail "dynamodb: the subsegments lack the fields above"
import json, sys
doc = json.loads(json.loads(open(sys.argv[1]).readline())["text"].split("\n", 1)[1])
subs = doc["subsegments"]
want = [("CreateTable", "orders"), ("PutItem", "orders"), ("GetItem", "orders"),
        ("GetItem", "archived-orders")]
got = [(s["aws"]["operation"], s["aws"].get("table_name")) for s in subs]
assert got == want, got
for s in subs:
    assert (s["name"], s["namespace"], s["aws"]["region"]) == ("DynamoDB", "aws", "us-east-1"), s
assert subs[3]["cause"]["exceptions"][0]["type"] == "ResourceNotFoundException", subs[3]
assert subs[3]["error"] is True and subs[3]["cause"]["exceptions"][0]["remote"] is True, subs[3]
print("dynamodb: 4 DynamoDB subsegments with region, table_name and the error code")
PY

step "lambda under cargo-lambda's emulator (cargo lambda watch --only-lambda-apis, cargo lambda invoke)"
# The SAM template, checked by cfn-lint (which moto[server] brings) with the SAM transform.
cfn-lint examples/lambda/template.yaml || fail "cfn-lint examples/lambda/template.yaml"
echo "examples/lambda/template.yaml: cfn-lint found nothing"
LAMBDA_PORT=$(free_port)
# Lambda sends each subsegment on its own: 3 for the order (validate-order, insert-order,
# orders-db), 1 for the empty order (validate-order, with the error).
start_viewer lambda 4
# The emulator's Lambda runtime API on 127.0.0.1, which gives each invocation its request id,
# deadline and trace header. Plain `cargo lambda watch` would also build and start the
# function with `cargo run -p xray-example-lambda`: a second build of its dependencies with
# other features (1.5 min on 2 cores). The function built above is started instead, with the
# environment the emulator says it needs.
(
    cd examples/lambda
    exec setsid cargo lambda watch --only-lambda-apis --color never \
        --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT"
) >"$WORK/watch.log" 2>&1 &
PIDS+=("$!")
wait_for_line "$WORK/watch.log" "starting Runtime server" 60
LAMBDA_ENV=()
while read -r assignment; do
    LAMBDA_ENV+=("$assignment")
done < <(grep -o 'AWS_LAMBDA_[A-Z_]*=[^ ]*' "$WORK/watch.log")
printf 'function environment from the emulator: %s\n' "${LAMBDA_ENV[*]}"
[[ " ${LAMBDA_ENV[*]}" == *" AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:$LAMBDA_PORT/"* ]] ||
    fail "the emulator named no runtime API on 127.0.0.1:$LAMBDA_PORT: $(cat "$WORK/watch.log")"
env "${LAMBDA_ENV[@]}" AWS_XRAY_DAEMON_ADDRESS="$VIEW_ADDR" \
    setsid "$BIN/orders-fn" >"$WORK/function.log" 2>&1 &
PIDS+=("$!")
invoke() {
    timeout 60 cargo lambda invoke --invoke-address 127.0.0.1 \
        --invoke-port "$LAMBDA_PORT" --data-file "examples/lambda/events/$1" --color never
}
invoke order.json >"$WORK/invoke-ok.out" 2>&1 ||
    fail "invoke order.json: $(cat "$WORK/invoke-ok.out" "$WORK/watch.log" "$WORK/function.log")"
cat "$WORK/invoke-ok.out"
# An order with no items fails the invocation: the error is recorded on `validate-order`.
if invoke empty-order.json >"$WORK/invoke-err.out" 2>&1; then
    fail "invoke empty-order.json succeeded: $(cat "$WORK/invoke-err.out")"
fi
grep -q "has no items" "$WORK/invoke-err.out" || fail "invoke empty-order.json: $(cat "$WORK/invoke-err.out")"
cat "$WORK/invoke-err.out"
check_viewer lambda 4
# The trace the function saw (from the emulator's Lambda-Runtime-Trace-Id) is the one drawn.
LAMBDA_TRACE=$(sed -n 's/.*"trace_id":"\([^"]*\)".*/\1/p' "$WORK/invoke-ok.out")
[[ -n $LAMBDA_TRACE ]] && grep -q "^trace $LAMBDA_TRACE " "$WORK/lambda.view" ||
    fail "lambda: the invocation's trace '$LAMBDA_TRACE' is not among the viewer's traces"

step "done: every example built, 5 run and checked by the viewer, tower_requests and loadgen run in $(elapsed) s"
