"""Joint positions -> rotations on a rig.

:func:`solve_bvh` poses a Human3.6M-17 BVH skeleton; :func:`repose_bvh` puts any BVH's own
skeleton at new joint positions; :func:`retarget` animates the user's own character
(:class:`pose2rig.rig.Rig`, bones found by name with :func:`map_rig`), and :mod:`lbs` deforms its
mesh.
"""

from __future__ import annotations

from pose2rig.retarget.character import retarget
from pose2rig.retarget.mapping import RigMapping, load_mapping_file, map_rig
from pose2rig.retarget.repose import repose_bvh
from pose2rig.retarget.solve import solve_bvh

__all__ = ["RigMapping", "load_mapping_file", "map_rig", "repose_bvh", "retarget", "solve_bvh"]
