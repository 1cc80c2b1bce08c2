"""Joint positions -> rotations on a rig. :func:`solve_bvh` poses a Human3.6M-17 BVH skeleton."""

from __future__ import annotations

from pose2rig.retarget.solve import solve_bvh

__all__ = ["solve_bvh"]
