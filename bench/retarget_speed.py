"""Time of ``retarget`` alone: a Bandai-1 clip onto the three MPFB2 rigs and the GDQuest mannequin.

Run it once per source tree to compare two versions side by side (interleave the runs):

    OMP_NUM_THREADS=1 .venv/bin/python bench/retarget_speed.py [--tree PATH] [--frames 1000] [--calls 9]

``--tree`` imports pose2rig from another checkout (e.g. a ``git worktree`` of an older commit).
Prints the median and the fastest of ``--calls`` calls over the four rigs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=REPO, help="the checkout whose pose2rig is timed")
    ap.add_argument("--clip", default="dataset-1_dance-short_normal_001.bvh", help="a Bandai-1 clip name")
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=9)
    args = ap.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))

    import pose2rig
    from pose2rig.io.gltf import load_gltf_rig
    from pose2rig.io.mocap import load_bvh_as_h36m17
    from pose2rig.io.mpfb2 import load_mpfb2
    from pose2rig.retarget.character import retarget

    src = load_bvh_as_h36m17(DATA / "mocap" / "bandai1" / args.clip)
    n = args.frames
    src = src.replace(joints=src.joints[:n], timestamps=src.timestamps[:n], confidence=src.confidence[:n])
    chars = DATA / "characters"
    rigs = [load_mpfb2(chars / "mpfb2" / f"rig.{name}.json") for name in ("game_engine", "mixamo", "cmu_mb")]
    rigs.append(load_gltf_rig(chars / "mannequiny-0.3.0.glb"))
    for rig in rigs:  # warm-up
        retarget(src, rig)
    times = []
    for _ in range(args.calls):
        t0 = time.perf_counter()
        for rig in rigs:
            retarget(src, rig)
        times.append(time.perf_counter() - t0)
    print(f"{Path(pose2rig.__file__).parent.parent}: four rigs x {src.num_frames} frames: "
          f"median {statistics.median(times):.3f} s, fastest {min(times):.3f} s")


if __name__ == "__main__":
    main()
