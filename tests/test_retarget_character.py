"""Retargeting onto characters (pose2rig/retarget/character.py, mapping.py, rig.py, lbs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import euler_to_matrix, quat_to_matrix
from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.retarget.character import rest_floor, retarget
from pose2rig.retarget.lbs import skin
from pose2rig.retarget.mapping import load_mapping_file, map_rig
from pose2rig.rig import Rig, RigAnimation
from pose2rig.testing import TPOSE_H36M17, tpose_rig, tpose_sequence

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MPFB2 = DATA / "characters" / "mpfb2"
BANDAI_CLIP = DATA / "mocap" / "bandai1" / "dataset-1_dance-short_normal_001.bvh"


def _turned(seq, yaw_deg: float, shift=(0.0, 0.0, 0.0)):
    r = euler_to_matrix(np.array([0.0, np.radians(yaw_deg), 0.0]), "XYZ")
    j = seq.joints.astype(np.float64) @ r.T + np.asarray(shift)
    return seq.replace(joints=j.astype(np.float32))


def _identity_basis(anim: RigAnimation) -> np.ndarray:
    """Angle (degrees) of each bone's rotation from rest, ``(T, J)``."""
    return np.degrees(2 * np.arccos(np.clip(np.abs(anim.rotations[..., 0]), 0, 1)))


def test_source_in_the_rigs_own_rest_pose_leaves_it_at_rest_on_the_floor():
    rig = tpose_rig()
    anim = retarget(tpose_sequence(3), rig)
    assert anim.num_frames == 3
    assert _identity_basis(anim).max() < 1e-4
    floor = rest_floor(rig)
    assert 0.01 < floor < 0.03  # the fixture stands 2 cm above y = 0; its animation stands on it
    on_floor = rig.rest.copy()
    on_floor[:, 1, 3] -= floor
    assert np.allclose(anim.world_matrices()[0], on_floor, atol=1e-6)


def test_a_turned_subject_turns_the_hips_only_and_keeps_bones_on_the_source():
    rig = tpose_rig()
    anim = retarget(_turned(tpose_sequence(2), 90.0), rig)
    angles = _identity_basis(anim)[0]
    hips = rig.index("pelvis")
    assert abs(angles[hips] - 90.0) < 1e-3
    assert np.delete(angles, hips).max() < 1e-3


def test_convention_bone_directions_follow_the_source_on_a_real_clip():
    rig = tpose_rig()
    src = load_bvh_as_h36m17(BANDAI_CLIP)
    src = src.replace(joints=src.joints[::10], timestamps=src.timestamps[::10], confidence=src.confidence[::10])
    anim = retarget(src, rig)
    heads = anim.world_matrices()[..., :3, 3]
    names = src.skeleton.joint_names
    for bone, child, a, b in (("thigh_l", "calf_l", "left_hip", "left_knee"),
                              ("lowerarm_r", "hand_r", "right_elbow", "right_wrist"),
                              ("upperarm_l", "lowerarm_l", "left_shoulder", "left_elbow")):
        want = src.joints[:, names.index(b)] - src.joints[:, names.index(a)]
        got = heads[:, rig.index(child)] - heads[:, rig.index(bone)]
        cos = np.sum(want * got, -1) / np.linalg.norm(want, axis=-1) / np.linalg.norm(got, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.1, bone


def test_bone_rolls_never_change_the_skinned_result():
    """The same body with random rolls (every bone's axes turned about itself) deforms identically:
    the roll and twist errors that bone directions alone would hide."""
    src = load_bvh_as_h36m17(BANDAI_CLIP)
    src = src.replace(joints=src.joints[::20], timestamps=src.timestamps[::20], confidence=src.confidence[::20])
    a = tpose_rig()
    b = tpose_rig(rolls=np.random.default_rng(0).uniform(-np.pi, np.pi, a.num_bones))
    assert not np.allclose(a.rest, b.rest)
    va, vb = skin(retarget(src, a)), skin(retarget(src, b))
    assert np.abs(va - vb).max() < 1e-6  # float noise of the floor percentile


def test_bone_lengths_stay_constant_and_root_motion_follows_the_pelvis():
    src = load_bvh_as_h36m17(BANDAI_CLIP)
    src = src.replace(joints=src.joints[::10], timestamps=src.timestamps[::10], confidence=src.confidence[::10])
    rig = tpose_rig()
    anim = retarget(src, rig)
    heads = anim.world_matrices()[..., :3, 3]
    rest_len = np.linalg.norm(rig.heads[1:] - rig.heads[list(rig.parents[1:])], axis=-1)
    lens = np.linalg.norm(heads[:, 1:] - heads[:, list(rig.parents[1:])], axis=-1)
    assert np.abs(lens - rest_len).max() < 1e-6
    mid = heads[:, [rig.index("thigh_l"), rig.index("thigh_r")]].mean(axis=1)
    src_mid = src.joints[:, [src.skeleton.index("left_hip"), src.skeleton.index("right_hip")]].mean(axis=1)
    travel = np.linalg.norm((src_mid - src_mid[0])[:, [0, 2]], axis=-1)
    moved = np.linalg.norm((mid - mid[0])[:, [0, 2]], axis=-1)
    assert travel.max() > 0.3  # the clip travels
    scale = moved.max() / travel.max()
    assert 0.6 < scale < 1.6
    # in place: the mid-hip point stays put horizontally, the vertical motion remains
    still = retarget(src, rig, root_motion=False).world_matrices()[..., :3, 3]
    still_mid = still[:, [rig.index("thigh_l"), rig.index("thigh_r")]].mean(axis=1)
    assert np.abs(still_mid[:, [0, 2]] - still_mid[0, [0, 2]]).max() < 1e-9
    assert np.ptp(still_mid[:, 1]) > 0.01


def test_feet_stay_on_the_floor():
    src = load_bvh_as_h36m17(BANDAI_CLIP)
    src = src.replace(joints=src.joints[::5], timestamps=src.timestamps[::5], confidence=src.confidence[::5])
    rig = tpose_rig()
    heads = retarget(src, rig).world_matrices()[..., :3, 3]
    low = heads[:, [rig.index("foot_l"), rig.index("foot_r")], 1].min(axis=1)
    rest_low = rig.heads[[rig.index("foot_l"), rig.index("foot_r")], 1].min() - rest_floor(rig)  # above y = 0
    assert abs(np.percentile(low, 5) - rest_low) < 1e-6
    assert np.median(low) - rest_low < 0.1


def test_missing_frames_hold_the_nearest_and_all_missing_is_an_error():
    seq = tpose_sequence(5)
    j = seq.joints.copy()
    j[2] = np.nan
    anim = retarget(seq.replace(joints=j, confidence=np.where(np.isfinite(j[..., 0]), 1, 0).astype(np.float32)),
                    tpose_rig())
    assert np.all(np.isfinite(anim.rotations))
    with pytest.raises(Pose2RigError, match="every frame"):
        retarget(seq.replace(joints=np.full_like(j, np.nan), confidence=np.zeros(j.shape[:2], np.float32)),
                 tpose_rig())


def test_camera_space_input_is_refused():
    with pytest.raises(Pose2RigError, match="world-space"):
        retarget(tpose_sequence().replace(space="camera"), tpose_rig())


# --- mapping --------------------------------------------------------------------------------

def _renamed(rig: Rig, names: dict[str, str]) -> Rig:
    return Rig(rig.name, tuple(names.get(n, n) for n in rig.bone_names), rig.parents, rig.rest, rig.tails, rig.mesh)


def test_rig_without_needed_bones_names_them_and_the_names_tried():
    rig = _renamed(tpose_rig(), {"calf_l": "bone_17", "upperarm_r": "bone_18"})
    with pytest.raises(Pose2RigError) as e:
        map_rig(rig)
    msg = str(e.value)
    assert "left_shin" in msg and "right_upper_arm" in msg and "LeftLeg" in msg and "Pass rig_map:" in msg
    assert "--map" not in msg and "Pass --map:" in e.value.render({"rig_map": "--map"})  # the CLI's spelling


def test_mapping_overrides_fix_odd_names_and_bad_ones_are_refused(tmp_path):
    rig = _renamed(tpose_rig(), {"calf_l": "bone_17"})
    m = map_rig(rig, {"left_shin": "bone_17"})
    assert rig.bone_names[m.roles["left_shin"]] == "bone_17"
    with pytest.raises(Pose2RigError, match="no such bone"):
        map_rig(rig, {"left_shin": "nope"})
    f = tmp_path / "map.json"
    f.write_text(json.dumps({"left_shin": "bone_17"}))
    assert load_mapping_file(f) == {"left_shin": "bone_17"}
    f.write_text(json.dumps({"left_tail": "x"}))
    with pytest.raises(Pose2RigError, match="unknown roles left_tail"):
        load_mapping_file(f)
    f.write_text("{not json")
    with pytest.raises(Pose2RigError, match="not valid JSON"):
        load_mapping_file(f)


@pytest.mark.parametrize("rig_name, spine, neck", [
    ("game_engine", ["spine_01", "spine_02", "spine_03"], ["neck_01"]),
    ("mixamo", ["mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2"], ["mixamorig:Neck"]),
    ("cmu_mb", ["LowerBack", "Spine", "Spine1"], ["Neck", "Neck1"]),
])
def test_mpfb2_rigs_map_by_name(rig_name, spine, neck):
    from pose2rig.io.mpfb2 import load_mpfb2

    rig = load_mpfb2(MPFB2 / f"rig.{rig_name}.json")
    m = map_rig(rig)
    assert [rig.bone_names[i] for i in m.spine] == spine
    assert [rig.bone_names[i] for i in m.neck] == neck
    assert {"left_foot", "right_hand", "left_clavicle"} <= set(m.roles)


# --- LBS --------------------------------------------------------------------------------------

def test_lbs_at_rest_is_the_bind_pose_and_a_rigid_turn_turns_the_mesh():
    rig = tpose_rig()
    rest = RigAnimation.rest_pose(rig, frames=2)
    assert np.allclose(skin(rest), rig.mesh.vertices[None], atol=1e-6)
    q = np.zeros((1, rig.num_bones, 4))
    q[..., 0] = 1.0
    q[0, 0] = [np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0]  # the root bone 90 deg about its y
    anim = RigAnimation(rig, q, rig.heads[[0]][None], 30.0)
    turn = rig.rest[0, :3, :3] @ quat_to_matrix(q[0, 0]) @ rig.rest[0, :3, :3].T
    want = (rig.mesh.vertices - rig.heads[0]) @ turn.T + rig.heads[0]
    assert np.allclose(skin(anim)[0], want, atol=1e-6)


# --- the three MPFB2 rigs: one body, three naming and roll conventions -------------------------

@pytest.mark.slow
def test_three_mpfb2_rigs_deform_the_body_alike_on_a_real_clip():
    from pose2rig.io.mpfb2 import load_mpfb2

    src = load_bvh_as_h36m17(BANDAI_CLIP)
    src = src.replace(joints=src.joints[::15], timestamps=src.timestamps[::15], confidence=src.confidence[::15])
    verts = {}
    for name in ("game_engine", "mixamo", "cmu_mb"):
        rig = load_mpfb2(MPFB2 / f"rig.{name}.json")
        verts[name] = skin(retarget(src, rig))
    for a, b in (("game_engine", "mixamo"), ("game_engine", "cmu_mb"), ("mixamo", "cmu_mb")):
        per_frame = np.linalg.norm(verts[a] - verts[b], axis=-1).mean(axis=1)
        assert per_frame.max() < 0.02, (a, b, per_frame.max())


def test_convention_feet_stay_level_and_turn_with_the_knee():
    src = load_bvh_as_h36m17(BANDAI_CLIP)
    src = src.replace(joints=src.joints[::10], timestamps=src.timestamps[::10], confidence=src.confidence[::10])
    rig = tpose_rig()
    world = retarget(src, rig).world_matrices()
    for foot in ("foot_l", "foot_r"):
        j = rig.index(foot)
        delta = world[:, j, :3, :3] @ rig.rest[j, :3, :3].T
        assert np.abs(delta @ np.array([0.0, 1.0, 0.0]) - [0.0, 1.0, 0.0]).max() < 1e-5
    # a subject turned by 90 degrees turns the feet by 90 degrees
    turned = retarget(_turned(tpose_sequence(1), 90.0), rig).world_matrices()[0, rig.index("foot_l"), :3, :3]
    delta = turned @ rig.rest[rig.index("foot_l"), :3, :3].T
    assert np.allclose(delta, euler_to_matrix(np.array([0.0, np.radians(90.0), 0.0]), "XYZ"), atol=1e-6)


def test_foot_directions_turn_the_feet_and_nan_frames_fall_back_to_the_knee():
    rig = tpose_rig()
    seq = tpose_sequence(3)
    heading = np.array([[np.sin(np.radians(30.0)), 0.0, np.cos(np.radians(30.0))]] * 3)
    heading[1] = np.nan
    anim = retarget(seq, rig, extremities={"left_foot": heading, "right_foot": np.full((3, 3), np.nan)})
    world = anim.world_matrices()
    j = rig.index("foot_l")
    turn = world[:, j, :3, :3] @ rig.rest[j, :3, :3].T
    assert np.allclose(turn[0], euler_to_matrix(np.array([0.0, np.radians(30.0), 0.0]), "XYZ"), atol=1e-6)
    assert np.allclose(turn[1], np.eye(3), atol=1e-6)  # NaN: with the knee (straight ahead here)
    r = rig.index("foot_r")
    assert np.allclose(world[:, r, :3, :3] @ rig.rest[r, :3, :3].T, np.eye(3), atol=1e-6)
    with pytest.raises(Pose2RigError, match="extremities"):
        retarget(seq, rig, extremities={"left_foot": heading[:2]})


def test_hand_lines_roll_the_hands_about_their_forearms():
    rig = tpose_rig()
    seq = tpose_sequence(2)
    roll = np.radians(40.0)
    # left forearm along +X; rest knuckle line +Z (palm down); rolled 40 deg about +X
    line = np.array([[0.0, -np.sin(roll), np.cos(roll)]] * 2)
    anim = retarget(seq, rig, extremities={"left_hand": line})
    world = anim.world_matrices()
    j = rig.index("hand_l")
    fore = TPOSE_H36M17[13] - TPOSE_H36M17[12]  # left elbow -> wrist, nearly +X
    turn = world[0, j, :3, :3] @ rig.rest[j, :3, :3].T
    axis = fore / np.linalg.norm(fore)
    assert np.allclose(turn @ axis, axis, atol=1e-6)  # a pure roll about the forearm
    assert np.degrees(np.arccos((np.trace(turn) - 1) / 2)) == pytest.approx(40.0, abs=1.5)
    r = rig.index("hand_r")
    assert np.allclose(world[0, r, :3, :3], rig.rest[r, :3, :3], atol=1e-9)  # no line: at rest


@pytest.mark.parametrize("scheme, names", [
    ("Mixamo", ["mixamorig:Hips", "mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2", "mixamorig:Neck",
                "mixamorig:Head", *[f"mixamorig:{s}{p}" for s in ("Left", "Right")
                                    for p in ("UpLeg", "Leg", "Foot", "Shoulder", "Arm", "ForeArm", "Hand")]]),
    ("UE Mannequin", ["root", "pelvis", "spine_01", "spine_02", "spine_03", "neck_01", "head",
                      *[f"{p}_{s}" for s in ("l", "r") for p in ("thigh", "calf", "foot", "clavicle", "upperarm",
                                                              "lowerarm", "hand")]]),
    ("Rigify", ["root", "ORG-spine", "DEF-spine", "DEF-spine.001", "DEF-spine.002", "DEF-spine.003",
                "DEF-spine.004", "DEF-spine.005", "DEF-spine.006",
                *[f"{k}-{p}.{s}" for s in ("L", "R") for k in ("ORG", "DEF")
                  for p in ("thigh", "shin", "foot", "shoulder", "upper_arm", "forearm", "hand")]]),
    ("Reallusion CC", ["CC_Base_BoneRoot", "CC_Base_Hip", "CC_Base_Waist", "CC_Base_Spine01", "CC_Base_Spine02",
                       "CC_Base_NeckTwist01", "CC_Base_Head",
                       *[f"CC_Base_{s}_{p}" for s in ("L", "R") for p in ("Thigh", "Calf", "Foot", "Clavicle",
                                                                          "Upperarm", "Forearm", "Hand")]]),
    ("Bandai", ["joint_Root", "Hips", "Spine", "Chest", "Neck", "Head",
                *[f"{p}_{s}" for s in ("L", "R") for p in ("UpperLeg", "LowerLeg", "Foot", "Shoulder", "UpperArm",
                                                           "LowerArm", "Hand")]]),
    ("Blender-style", ["pelvis", "spine_01", "spine_02", "neck_01", "head",
                       *[f"{p}.{s}" for s in ("l", "r") for p in ("thigh", "calf", "foot", "clavicle", "upperarm",
                                                                  "lowerarm", "hand")]]),
])
def test_naming_schemes_map_every_required_role(scheme, names):
    from pose2rig.retarget.mapping import REQUIRED_ROLES
    from pose2rig.skeletons.names import match_bones

    found = match_bones(names)
    missing = [r for r in REQUIRED_ROLES if r not in found]
    assert not missing, (scheme, missing)
    got = {r: names[i] for r, i in found.items()}
    if scheme == "Rigify":  # the deform bones, never their ORG twins
        assert got["left_thigh"] == "DEF-thigh.L" and got["hips"] == "DEF-spine" and got["head"] == "DEF-spine.006"
    assert len(set(found.values())) == len(found)  # one bone, one role


def test_rig_bvh_plays_the_animation_back(tmp_path):
    """The character's BVH (its skeleton, its rest pose as BVH's zero pose) written and read
    back: forward kinematics puts every joint where the animation has its bone's head."""
    from pose2rig.io.bvh import read_bvh, write_bvh
    from pose2rig.io.rigs import animation_to_bvh

    src = load_bvh_as_h36m17(BANDAI_CLIP)
    src = src.replace(joints=src.joints[::40], timestamps=src.timestamps[::40], confidence=src.confidence[::40])
    anim = retarget(src, tpose_rig())
    write_bvh(tmp_path / "rig.bvh", animation_to_bvh(anim, units="cm"))
    back = read_bvh(tmp_path / "rig.bvh")
    assert sorted(back.names) == sorted(anim.rig.bone_names) and back.num_frames == anim.num_frames
    positions, _ = back.forward_kinematics(scale=0.01)
    heads = anim.world_matrices()[..., :3, 3]
    order = [anim.rig.index(n) for n in back.names]
    assert np.abs(positions - heads[:, order]).max() < 1e-4


# --- real characters: found by the hierarchy, on the floor ----------------------------------------

CHARACTERS = DATA / "characters"
WALK = DATA / "mocap" / "bandai1" / "dataset-1_walk_normal_001.bvh"


@pytest.fixture(scope="module")
def robot():
    from pose2rig.io.rigs import load_rig

    return load_rig(CHARACTERS / "RobotExpressive.glb")


def test_robot_maps_by_the_hierarchy_where_names_mislead(robot):
    """RobotExpressive's legs hang from Body and its spine from Hips under it: the hips role is
    where thighs and spine meet; its Foot.L/R IK controls hang from the root bone and follow the
    shins."""
    m = map_rig(robot)
    names = robot.bone_names
    assert names[m.roles["hips"]] == "Body"
    assert [names[j] for j in m.spine] == ["Hips", "Abdomen", "Torso"] and [names[j] for j in m.neck] == ["Neck"]
    assert {names[f]: names[limb] for f, limb in m.followers.items()} == {"Foot.L": "LowerLeg.L",
                                                                           "Foot.R": "LowerLeg.R"}
    assert robot.parents[robot.index("Foot.L")] == robot.index("Bone")  # outside the leg's chain
    # the rigs that name their hips right keep them, and have no followers
    assert map_rig(tpose_rig()).followers == {} and tpose_rig().bone_names[map_rig(tpose_rig()).roles["hips"]] == "pelvis"


def test_hierarchy_error_names_the_bones_found_and_the_mapping_that_fixes_it(robot):
    from pose2rig.errors import ArgumentError

    with pytest.raises(ArgumentError) as e:
        map_rig(robot, {"hips": "Hips"})  # a mapping that insists on the wrong bone
    msg = str(e.value)
    assert "left thigh bone 'UpperLeg.L' does not descend from hips bone 'Hips'" in msg
    assert "left_thigh = 'UpperLeg.L' (under 'Body')" in msg and "hips = 'Hips' (under 'Body')" in msg
    assert '{"hips": "Body"}' in msg and "Pass rig_map:" in msg and "--map" not in msg
    assert "Pass --map:" in e.value.render({"rig_map": "--map"})  # the CLI's spelling
    # and the fix it names works
    assert robot.bone_names[map_rig(robot, {"hips": "Body"}).roles["hips"]] == "Body"


def test_no_common_ancestor_is_an_error_that_says_so():
    """Thighs in another tree than the spine: nothing to guess; the error lists what was found."""
    from pose2rig.errors import ArgumentError

    rig = tpose_rig()
    parents = list(rig.parents)
    parents[rig.index("thigh_l")] = -1  # the left leg cut off the body
    cut = Rig(rig.name, rig.bone_names, tuple(parents), rig.rest, rig.tails, rig.mesh)
    with pytest.raises(ArgumentError, match=r"left thigh bone 'thigh_l' does not descend.*left_thigh = 'thigh_l' \(a root\)"):
        map_rig(cut)


def test_robot_ik_feet_follow_the_end_of_their_shins(robot):
    src = load_bvh_as_h36m17(WALK)
    src = src.replace(joints=src.joints[::6], timestamps=src.timestamps[::6], confidence=src.confidence[::6])
    anim = retarget(src, robot)
    world = anim.world_matrices()
    for side in ("L", "R"):
        foot, shin = robot.index(f"Foot.{side}"), robot.index(f"LowerLeg.{side}")
        carried = world[:, shin] @ np.linalg.inv(robot.rest[shin]) @ robot.rest[foot][:, 3]
        assert np.abs(world[:, foot, :3, 3] - carried[:, :3]).max() < 1e-6
        assert np.ptp(world[:, foot, 2, 3]) > 1.0  # and they walk along
        # the foot stays level (its rest pitch and roll against the floor)
        turn = world[:, foot, :3, :3] @ robot.rest[foot, :3, :3].T
        assert np.abs(turn[:, :, 1] - [0.0, 1.0, 0.0]).max() < 1e-6
    assert set(anim.moved_bones) == {robot.index("Foot.L"), robot.index("Foot.R")}  # only they translate


def test_robot_head_and_arms_stay_on_its_rigid_torso(robot):
    """RobotExpressive's Torso mesh hangs from Body (the hips); Hips, Abdomen, Torso and Neck carry
    no geometry. Bending them would slide the head and shoulders off the torso (by up to 64 mm
    in a walk before): they keep their rest pose, Body takes the torso's turn and the Head bone
    the head's. The head's joint and the shoulders stay at their rest distance from the torso's
    centre (issue 11: within 1 cm) through a walk and a dance; the head still turns."""
    from pose2rig.retarget.lbs import skin_frame

    torso = robot.mesh.joints[:, 0] == robot.index("Body")
    torso &= robot.mesh.weights[:, 0] == 1.0
    centre0 = robot.mesh.vertices[torso].mean(axis=0)
    on_torso = [robot.index(b) for b in ("Head", "Shoulder.L", "Shoulder.R")]
    rest = np.linalg.norm(robot.heads[on_torso] - centre0, axis=-1)
    for clip in (WALK, WALK.with_name("dataset-1_dance-short_normal_001.bvh")):
        src = load_bvh_as_h36m17(clip)
        src = src.replace(joints=src.joints[::4], timestamps=src.timestamps[::4], confidence=src.confidence[::4])
        anim = retarget(src, robot)
        world = anim.world_matrices()
        centre = np.stack([skin_frame(robot.mesh, m)[torso].mean(axis=0) for m in anim.skinning_matrices()])
        dist = np.linalg.norm(world[:, on_torso][:, :, :3, 3] - centre[:, None], axis=-1)
        assert np.abs(dist - rest).max() < 0.01, clip.name
        for bone in ("Hips", "Abdomen", "Torso", "Neck"):  # at rest on their parents
            np.testing.assert_allclose(np.abs(anim.rotations[:, robot.index(bone), 0]), 1.0, atol=1e-9)
        head_turn = np.degrees(2 * np.arccos(np.clip(np.abs(anim.rotations[:, robot.index("Head"), 0]), 0, 1)))
        assert head_turn.max() > 5.0  # the head turns, on its own joint
    # a rig whose spine carries its own mesh bends it as before (the bundled character)
    from pose2rig.io.rigs import load_rig

    human = load_rig(None)
    m = map_rig(human)
    anim = retarget(load_bvh_as_h36m17(WALK), human)
    spine_turn = np.degrees(2 * np.arccos(np.clip(np.abs(anim.rotations[:, list(m.spine), 0]), 0, 1)))
    assert spine_turn.max() > 3.0


def _foot_vertices(rig: Rig) -> np.ndarray:
    """Vertices that follow a foot most (the foot bones and what hangs from them)."""
    from pose2rig.retarget.mapping import common_ancestor

    m = map_rig(rig)
    feet = [m.roles["left_foot"], m.roles["right_foot"]]
    under = [j for j in range(rig.num_bones) if any(common_ancestor(rig, [j, f]) == f for f in feet)]
    strongest = rig.mesh.joints[np.arange(len(rig.mesh.joints)), np.argmax(rig.mesh.weights, axis=1)]
    return np.isin(strongest, under)


@pytest.mark.parametrize("character, rest_within", [
    ("mpfb2/rig.game_engine.json", 0.02), ("mpfb2/rig.mixamo.json", 0.02), ("mpfb2/rig.cmu_mb.json", 0.02),
    ("mannequiny-0.3.0.glb", 0.02),
    ("RobotExpressive.glb", 0.025),  # its file's soles reach 2.03 cm under its origin; the walk is on y = 0
])
def test_every_character_stands_on_the_floor_at_rest_and_through_a_walk(character, rest_within):
    """Issue 11: the lowest vertex within 2 cm of y = 0 in the rest pose, and the feet on the
    floor through a Bandai-1 walk: the lower foot's lowest vertex never 2 cm under it, and on it
    (within 2 cm) in the frames where the feet are lowest."""
    from pose2rig.io.rigs import load_rig

    rig = load_rig(CHARACTERS / character)
    assert abs(float(rig.mesh.vertices[:, 1].min())) < rest_within
    src = load_bvh_as_h36m17(WALK)
    src = src.replace(joints=src.joints[::3], timestamps=src.timestamps[::3], confidence=src.confidence[::3])
    posed = skin(retarget(src, rig))
    feet = posed[:, _foot_vertices(rig), 1].min(axis=1)  # (T,) the lower foot's lowest point
    assert feet.min() > -0.02 and abs(np.percentile(feet, 5)) < 0.02
    assert np.median(feet) < 0.04  # a walk: a foot is down most of the time


def test_source_frames_with_missing_joints_hold_the_nearest_the_earlier_on_a_tie() -> None:
    from pose2rig.retarget.character import _fill_missing

    j = np.arange(4, dtype=float)[:, None, None] * np.ones((4, 17, 3))
    j[1, 5] = np.nan  # one joint missing makes the frame missing
    j[3] = np.nan
    out = _fill_missing(j)
    assert out[:, 0, 0].tolist() == [0.0, 0.0, 2.0, 2.0]  # 1 is midway between 0 and 2: the earlier
    with pytest.raises(Pose2RigError, match="every frame"):
        _fill_missing(np.full((2, 17, 3), np.nan))
