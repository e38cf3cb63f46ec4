#!/usr/bin/env bash
# Installs the pinned moto[server] (the AWS mock the aws-sdk tests and the dynamodb example
# run against) into a virtualenv in the target directory on first use, and prints the path of
# its `moto_server` on stdout (progress goes to stderr). Used by scripts/test.sh before
# `cargo test` (as XRAY_MOTO_SERVER) and by scripts/examples-test.sh.
#
#   export XRAY_MOTO_SERVER=$(bash scripts/moto.sh)
#
# Once installed it needs no network (examples-test.sh calls it again inside a network
# namespace with only loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
VENV=${CARGO_TARGET_DIR:-$PWD/target}/moto-venv
STAMP=$VENV/installed-moto-$MOTO_VERSION

if [[ ! -e $STAMP ]]; then
    echo "moto.sh: installing moto[server]==$MOTO_VERSION into $VENV (pip)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION" >&2
    touch "$STAMP"
fi
[[ -x $VENV/bin/moto_server ]] || { echo "moto.sh: no moto_server in $VENV" >&2; exit 1; }
echo "$VENV/bin/moto_server"
