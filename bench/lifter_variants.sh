#!/bin/bash
# Train the lifter variants that bench/lifter_table.py scores (docs/BENCHMARKS.md, issue 3).
#
#   bench/lifter_variants.sh table     # supervised, adversarial +- symmetry +- bone ratio
#   bench/lifter_variants.sh ablation  # the paper's recipe at CPU size -> the default, one change at a time
#
# Two trainings run side by side, one torch thread each (this is a 2-core machine); the step
# budgets are fixed, so results do not depend on machine load. "table" takes about 45 minutes
# there, "ablation" about 40. Checkpoints go to runs/table/ and runs/ablate/ (not in git).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/pose2rig}

run() {  # run DIR NAME STEPS EVERY [options...]
  local dir=$1 name=$2 steps=$3 every=$4; shift 4
  mkdir -p "$dir"
  OMP_WAIT_POLICY=PASSIVE "$PY" train --data ../shared/data/mocap/cmu --data ../shared/data/mocap/cmu_iclone \
    --threads 1 --steps "$steps" --checkpoint-every "$every" \
    --run-dir "$dir/$name" --out "$dir/$name.pt" --fresh -q "$@" > "$dir/$name.log" 2>&1
  echo "$name done $(date -u +%FT%TZ)"
}

case "${1:-}" in
  table)
    # the steps a 15-minute budget reached on machine A, each run validated once, at that step
    ( run runs/table supervised 123000 123000 --objective supervised
      run runs/table adv_sym 18000 18000 ) &
    ( run runs/table adv_nogeo 27000 27000 --symmetry-weight 0 --bone-ratio-weight 0
      run runs/table adv_sym_ratio 30000 30000 --symmetry-weight 0.1 --bone-ratio-weight 0.1 ) &
    wait ;;
  ablation)
    P="--preset paper --joints h36m17 --width 256 --blocks 2 --d-width 256 --d-blocks 2 --batch 256"
    PLAIN="--d-norm none --norm none --activation leaky_relu"
    OPT="--lr-g 5e-4 --lr-d 1e-3 --beta1 0.5 --real-label 0.9"
    # shellcheck disable=SC2086
    ( run runs/ablate p0_paper 18000 3000 $P
      run runs/ablate p2_g_plain 18000 3000 $P $PLAIN
      run runs/ablate p4_kcs_logit 18000 3000 $P $PLAIN $OPT --d-kcs on --d-output logit ) &
    # shellcheck disable=SC2086
    ( run runs/ablate p1_d_nobn 18000 3000 $P --d-norm none
      run runs/ablate p3_adam 18000 3000 $P $PLAIN $OPT ) &
    wait ;;
  *)
    echo "usage: $0 table|ablation" >&2; exit 2 ;;
esac
