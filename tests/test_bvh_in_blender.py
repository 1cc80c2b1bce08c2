"""README's "Importing into Blender": what Blender's own BVH importer makes of pose2rig's BVH.

Blender reads BVH lengths as metres: a centimetre BVH needs the importer's Scale 0.01, a
``--units m`` BVH comes in at scale 1; the default axes keep the subject's left on +X, Z up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose2rig.io.bvh import read_bvh, write_bvh
from pose2rig.retarget import solve_bvh
from pose2rig.skeletons import H36M17
from pose2rig.testing import tpose_sequence


def _import(bpy, path: Path, scale: float) -> dict[str, np.ndarray]:
    """Import ``path`` with Blender's default options and ``global_scale``; the joints' world
    positions on the first frame, by name (Blender: Z up)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=str(path), global_scale=scale)
    (arm,) = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"]
    bpy.context.scene.frame_set(1)
    bpy.context.view_layer.update()
    return {b.name: np.array(arm.matrix_world @ b.head) for b in arm.pose.bones}


@pytest.mark.slow
def test_blender_imports_a_cm_bvh_at_scale_001_and_an_m_bvh_at_scale_1(bpy, tmp_path):
    pose = tpose_sequence(3)
    cm, m = tmp_path / "cm.bvh", tmp_path / "m.bvh"
    write_bvh(cm, solve_bvh(pose, units="cm"))
    write_bvh(m, solve_bvh(pose, units="m"))
    names = [read_bvh(m).names[i] for i in range(H36M17.num_joints)]
    expected, _ = read_bvh(m).forward_kinematics()  # metres, Y up
    tall = float(np.ptp(expected[0, :, 1]))
    assert 1.5 < tall < 1.8

    def height(joints: dict[str, np.ndarray]) -> float:
        return float(np.ptp([p[2] for p in joints.values()]))

    at_cm_001 = _import(bpy, cm, 0.01)
    at_m_1 = _import(bpy, m, 1.0)
    at_cm_1 = _import(bpy, cm, 1.0)
    assert height(at_cm_001) == pytest.approx(tall, abs=1e-3)  # README: Scale 0.01 for cm
    assert height(at_m_1) == pytest.approx(tall, abs=1e-3)  # or --units m at scale 1
    assert height(at_cm_1) == pytest.approx(100 * tall, rel=1e-3)  # else 100 times too big
    left, right = names[H36M17.index("left_wrist")], names[H36M17.index("right_wrist")]
    assert at_m_1[left][0] > 0.5 > -0.5 > at_m_1[right][0]  # the subject's left on +X
