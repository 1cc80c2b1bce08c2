"""Tests for pose2rig.io.bvh: reading every mocap format, units, round trips, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.io.bvh import BvhMotion, detect_unit_scale, read_bvh, standing_height, write_bvh

MOCAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"

# file, metres per unit, joints, first rotation order, channels on a non-root joint
CLIPS = [
    ("cmu/scaled_131_01.bvh", 1.0, 31, ("Zrotation", "Yrotation", "Xrotation"), 3),
    ("cmu/fairmotion_01_01.bvh", 0.0254 / 0.45, 31, ("Zrotation", "Yrotation", "Xrotation"), 3),
    ("cmu_iclone/002_01.bvh", 0.01, 101, ("Zrotation", "Yrotation", "Xrotation"), 3),
    ("bandai1/dataset-1_walk_normal_001.bvh", 0.01, 22, ("Zrotation", "Xrotation", "Yrotation"), 6),
]


@pytest.fixture(scope="module", params=CLIPS, ids=[c[0].split("/")[0] + "-" + c[0].split("/")[1][:12] for c in CLIPS])
def clip(request):
    name, unit, joints, order, nchan = request.param
    return read_bvh(MOCAP / name), unit, joints, order, nchan


def test_reads_every_format(clip):
    m, _, joints, order, nchan = clip
    assert m.num_joints == joints
    assert m.parents[0] == -1 and all(0 <= p < i for i, p in enumerate(m.parents) if i)
    assert m.channels[0][:3] == ("Xposition", "Yposition", "Zposition")
    assert m.channels[0][3:] == order
    assert len(m.channels[-1]) == nchan
    assert m.motion.shape == (m.num_frames, sum(len(c) for c in m.channels))
    assert np.all(np.isfinite(m.motion))


def test_detects_units_and_standing_height(clip):
    m, unit, *_ = clip
    scale = detect_unit_scale(m)
    assert scale == pytest.approx(unit, rel=1e-9)
    assert 1.4 <= standing_height(m) * scale <= 2.0


def test_bone_lengths_constant_over_frames(clip):
    m, *_ = clip
    pos, rot = m.forward_kinematics(scale=detect_unit_scale(m))
    # rotations stay orthonormal
    assert np.allclose(rot[::10] @ np.swapaxes(rot[::10], -1, -2), np.eye(3), atol=1e-9)
    for j, p in enumerate(m.parents):
        if p < 0 or m.parents[p] < 0:  # root and the root's position-channel children
            continue
        length = np.linalg.norm(pos[:, j] - pos[:, p], axis=-1)
        assert np.ptp(length) < 1e-6 + 1e-4 * length.mean(), m.names[j]


def test_fk_honours_channel_order_and_position_channels():
    # one joint rotated Z then X: Rz(90) @ Rx(90) carries the child offset (0, 1, 0) to (0, 0, 1)
    # (Rx sends y to z, Rz leaves z); the opposite order would give (-1, 0, 0)
    m = BvhMotion(
        names=("root", "a", "b"),
        parents=(-1, 0, 1),
        offsets=np.array([[0.0, 0, 0], [1.0, 0, 0], [0.0, 1, 0]]),
        channels=(
            ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"),
            ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"),
            ("Xrotation", "Yrotation", "Zrotation"),
        ),
        end_sites={2: np.array([0.0, 0.0, 2.0])},
        motion=np.array([[5, 0, 0, 0, 0, 0, 0, 3, 0, 90, 90, 0, 0, 0, 0.0]]),
        frame_time=0.1,
    )
    pos, rot = m.forward_kinematics(scale=2.0)
    # joint a's position channels replace its offset (1, 0, 0)
    assert np.allclose(pos[0, 1], [10.0, 6.0, 0.0])
    assert np.allclose(pos[0, 2], pos[0, 1] + 2.0 * np.array([0.0, 0.0, 1.0]), atol=1e-9)
    ends = m.end_site_positions(scale=2.0)
    # end site (0, 0, 2) of b, rotated by a's Rz(90) Rx(90): Rx takes z to -y, Rz takes -y to +x
    assert np.allclose(ends[2][0], pos[0, 2] + 2.0 * np.array([2.0, 0.0, 0.0]), atol=1e-9)


def test_round_trip_exact(tmp_path, clip):
    m, *_ = clip
    short = BvhMotion(m.names, m.parents, m.offsets, m.channels, m.end_sites, m.motion[:20], m.frame_time)
    out = tmp_path / "out.bvh"
    write_bvh(out, short)
    back = read_bvh(out)
    assert back.names == short.names and back.parents == short.parents
    assert back.channels == short.channels
    assert np.array_equal(back.offsets, short.offsets)
    assert np.array_equal(back.motion, short.motion)
    assert back.frame_time == short.frame_time
    assert back.end_sites.keys() == short.end_sites.keys()
    for k in short.end_sites:
        assert np.array_equal(back.end_sites[k], short.end_sites[k])
    assert not [p for p in tmp_path.iterdir() if p.name != "out.bvh"]  # no temp file left


@pytest.fixture(scope="module")
def small_text() -> str:
    text = (MOCAP / "bandai1/dataset-1_walk_normal_001.bvh").read_text()
    head, _, _ = text.partition("MOTION")
    rows = text.split("Frame Time:")[1].splitlines()[1:4]
    return head + "MOTION\nFrames: 3\nFrame Time: 0.0333333\n" + "\n".join(rows) + "\n"


def test_small_text_reads(tmp_path, small_text):
    p = tmp_path / "ok.bvh"
    p.write_text(small_text)
    assert read_bvh(p).num_frames == 3


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t[: t.index("JOINT Spine") + 40], "MOTION"),  # truncated hierarchy
        (lambda t: t.split("MOTION")[0], "MOTION"),  # no MOTION section
        (lambda t: t.replace("Frames: 3", "Frames: 5"), "5 frames"),
        (lambda t: t.rsplit("\n", 2)[0] + "\n", "truncated"),  # last row missing
        (lambda t: t.replace("Frame Time: 0.0333333\n0 ", "Frame Time: 0.0333333\nnan "), "NaN"),
        (lambda t: t.replace("Frame Time: 0.0333333\n", "Frame Time: 0.0333333\n1 2 "), "values per frame"),
        (lambda t: t.replace("OFFSET", "OFFSXT", 3), "unexpected 'OFFSXT'"),
        (lambda t: "hello\n" + t, "HIERARCHY"),
    ],
    ids=["truncated-hierarchy", "no-motion", "frame-count", "missing-row", "nan", "bad-row", "bad-keyword", "not-bvh"],
)
def test_bad_files_raise_clear_errors(tmp_path, small_text, mutate, message):
    p = tmp_path / "bad.bvh"
    p.write_text(mutate(small_text))
    with pytest.raises(Pose2RigError, match=message):
        read_bvh(p)


def test_png_renamed_bvh(tmp_path):
    p = tmp_path / "picture.bvh"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    with pytest.raises(Pose2RigError, match="binary"):
        read_bvh(p)


def test_missing_file(tmp_path):
    with pytest.raises(Pose2RigError, match="cannot read"):
        read_bvh(tmp_path / "nope.bvh")


def test_write_refuses_nan(tmp_path):
    with pytest.raises(Pose2RigError, match="NaN"):
        BvhMotion(("r",), (-1,), np.zeros((1, 3)), (("Xrotation", "Yrotation", "Zrotation"),),
                  {}, np.array([[0.0, np.nan, 0.0]]), 0.1)


def test_failed_write_keeps_old_file(tmp_path):
    out = tmp_path / "keep.bvh"
    out.write_text("old")
    # joint 2 is a child of the root listed after joint 1's subtree would have to hold joint 3
    scrambled = BvhMotion(("r", "a", "b", "c"), (-1, 0, 0, 1), np.zeros((4, 3)),
                          (("Xrotation",),) * 4, {}, np.zeros((1, 4)), 0.1)
    with pytest.raises(Pose2RigError, match="depth-first"):
        write_bvh(out, scrambled)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.bvh"]
