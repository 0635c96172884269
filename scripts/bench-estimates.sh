#!/usr/bin/env bash
# How well a plan's expected saving matches the saving measured at the target (issue:
# estimates that hold), on the shipped corpus of public clips: the size model (each clip
# predicted by a model fitted on the others) against the codec table, for SVT-AV1 preset 8 and
# x264 medium at VMAF 93 and 95. Prints a Markdown table; needs no network and no media.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --example estimate_bench -q
