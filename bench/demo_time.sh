#!/bin/bash
# The wall time of `make demo`'s convert line (docs/BENCHMARKS.md, issue 17), run from a checkout
# with this repository's venv (the checkout's own package is imported first: python -m from its
# folder), into an empty folder, so detection runs (no keypoint cache).
#
#   bench/demo_time.sh TREE OUT_DIR      e.g. a `git worktree add /tmp/wt_base <rev>` and /tmp/demoA
#
# Interleave two trees yourself (A B A B ...) and compare medians: the machine is noisy.
set -u
tree=$(cd "$1" && pwd); out=$2
venv=$(cd "$(dirname "$0")/.." && pwd)/.venv
rm -rf "$out"; mkdir -p "$out"; out=$(cd "$out" && pwd)
cd "$tree"
start=$(date +%s.%N)
"$venv/bin/python" -m pose2rig.cli convert samples/sports2d_demo.mp4 --bvh "$out/d.bvh" --npz "$out/d.npz" \
    --preview "$out/d_preview.mp4" --fbx "$out/d.fbx" --character-preview "$out/d_character.mp4" -q \
    > "$out/log" 2>&1
rc=$?
end=$(date +%s.%N)
echo "$tree rc=$rc $(python3 -c "print(round($end - $start, 1))") s"
