"""pose2rig.render_character: the skinned character's preview keeps the character in view."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.pipeline import hold_missing_frames, load_character
from pose2rig.render_character import CharacterRenderer
from pose2rig.retarget import retarget

WALK = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "bandai1" / "dataset-1_walk_normal_001.bvh"
SIZE = (120, 160)


def _character(img: np.ndarray) -> tuple[int, bool]:
    """(count of the character's skin-coloured pixels, whether they touch the picture's edge);
    the background and the checkered floor are grey."""
    rgb = img.astype(int)
    skin = rgb[..., 2] - rgb[..., 0] > 30  # BGR: red well above blue
    ys, xs = np.nonzero(skin)
    if xs.size == 0:
        return 0, False
    return int(xs.size), bool(xs.min() == 0 or ys.min() == 0 or xs.max() == SIZE[0] - 1 or ys.max() == SIZE[1] - 1)


def test_character_stays_whole_and_the_same_size_through_a_long_gap():
    """A real walk (Bandai-1, 8 m) with 2 s lost: the gap's frames hold the nearest seen pose
    (as convert does), so the root jumps 2.6 m in one frame. The camera follows without losing
    or cutting the character (it used to lag a second behind: the character filled and left
    the picture)."""
    walk = load_bvh_as_h36m17(WALK)
    joints = walk.joints.copy()
    joints[60:120] = np.nan
    seen = np.isfinite(joints).all(axis=-1)
    held = hold_missing_frames(walk.replace(joints=joints, confidence=seen.astype(np.float32)))
    rig, mapping = load_character(None)
    animation = retarget(held, rig, mapping=mapping)
    step = np.linalg.norm(np.diff(animation.root_positions[:, 0], axis=0), axis=1)
    assert step.max() > 2.0 and 80 <= step.argmax() <= 100  # the held poses switch mid-gap
    renderer = CharacterRenderer(animation, size=SIZE)
    try:
        usual = np.median([_character(renderer.render(t))[0] for t in range(0, 40, 8)])
        assert usual > 500
        for t in range(60, 126, 3):
            count, cut = _character(renderer.render(t))
            assert not cut, t  # the whole character is in the picture
            assert 0.7 * usual < count < 1.4 * usual, (t, count, usual)  # at its usual size
    finally:
        renderer.close()
