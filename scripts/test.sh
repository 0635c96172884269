#!/usr/bin/env bash
# Quick start, command 2: install system packages and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export SVT_LOG=1
# A fresh clone gains nothing from incremental artifacts; they only take disk (gigabytes).
export CARGO_INCREMENTAL=0
# The store's contract tests run on SQLite and on this throwaway PostgreSQL cluster; when it
# cannot start, the suite fails.
. ./scripts/pg-cluster.sh
pg_cluster_start
# Unit, integration, CLI end-to-end and doc tests of every crate.
cargo test --workspace --locked
# Benchmarks and examples must keep compiling; they are run by hand (cargo bench).
cargo build --workspace --benches --examples --locked
