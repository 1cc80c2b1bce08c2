"""Exact synthetic fixtures for tests and examples: a T-posed Human3.6M-17 body and a small rig
built on it (bones named as an Unreal / MPFB2 game-engine rig), with a skinned mesh."""

from __future__ import annotations

import numpy as np

from pose2rig.io.mpfb2 import blender_bone_matrix
from pose2rig.rig import Rig, SkinnedMesh
from pose2rig.skeletons import H36M17
from pose2rig.types import PoseSequence

__all__ = ["TPOSE_H36M17", "tpose_rig", "tpose_sequence", "walk_sequence"]

_TPOSE = {
    "pelvis": (0.0, 0.95, 0.0), "spine": (0.0, 1.18, 0.01), "thorax": (0.0, 1.42, 0.0),
    "neck": (0.0, 1.55, 0.05), "head": (0.0, 1.72, 0.0),
    "left_hip": (0.1, 0.92, 0.0), "left_knee": (0.11, 0.5, 0.01), "left_ankle": (0.11, 0.08, -0.01),
    "right_hip": (-0.1, 0.92, 0.0), "right_knee": (-0.11, 0.5, 0.01), "right_ankle": (-0.11, 0.08, -0.01),
    "left_shoulder": (0.18, 1.42, 0.0), "left_elbow": (0.47, 1.42, -0.01), "left_wrist": (0.73, 1.42, 0.0),
    "right_shoulder": (-0.18, 1.42, 0.0), "right_elbow": (-0.47, 1.42, -0.01), "right_wrist": (-0.73, 1.42, 0.0),
}
TPOSE_H36M17 = np.array([_TPOSE[n] for n in H36M17.joint_names], dtype=np.float64)
"""``(17, 3)`` a T-pose facing +Z, Y up, metres, feet 8 cm above the floor at the ankles."""


def tpose_sequence(frames: int = 1, fps: float = 30.0) -> PoseSequence:
    """``frames`` copies of :data:`TPOSE_H36M17` as a world-space sequence."""
    j = np.repeat(TPOSE_H36M17[None], frames, axis=0).astype(np.float32)
    return PoseSequence(
        joints=j, skeleton=H36M17, fps=fps, timestamps=np.arange(frames) / fps, space="world",
        confidence=np.ones(j.shape[:2], dtype=np.float32),
    )


def tpose_rig(*, rolls: np.ndarray | None = None, name: str = "tpose") -> Rig:
    """A 22-bone rig on :data:`TPOSE_H36M17` with a 4-vertices-per-bone skinned mesh.

    Bones (parents first): pelvis, spine_01, neck_01, head, thigh/calf/foot, clavicle/upperarm/
    lowerarm/hand and the index and little fingers' first bones (``_l``/``_r``; palms down).
    ``rolls`` ``(22,)`` radians sets each bone's roll about its own axis (default 0): the rig's
    deformations must not depend on them.
    """
    p = _TPOSE
    v = {k: np.array(x) for k, x in p.items()}
    spec: list[tuple[str, str, np.ndarray, np.ndarray]] = [
        ("pelvis", "", v["pelvis"], v["spine"]),
        ("spine_01", "pelvis", v["spine"], v["thorax"]),
        ("neck_01", "spine_01", v["thorax"], v["neck"]),
        ("head", "neck_01", v["neck"], v["head"]),
    ]
    for s, x in (("l", "left"), ("r", "right")):
        spec += [
            (f"thigh_{s}", "pelvis", v[f"{x}_hip"], v[f"{x}_knee"]),
            (f"calf_{s}", f"thigh_{s}", v[f"{x}_knee"], v[f"{x}_ankle"]),
            (f"foot_{s}", f"calf_{s}", v[f"{x}_ankle"], v[f"{x}_ankle"] + np.array([0.0, -0.06, 0.14])),
            (f"clavicle_{s}", "spine_01", v["thorax"] + np.array([0.0, 0.0, 0.02]), v[f"{x}_shoulder"]),
            (f"upperarm_{s}", f"clavicle_{s}", v[f"{x}_shoulder"], v[f"{x}_elbow"]),
            (f"lowerarm_{s}", f"upperarm_{s}", v[f"{x}_elbow"], v[f"{x}_wrist"]),
            (f"hand_{s}", f"lowerarm_{s}", v[f"{x}_wrist"], v[f"{x}_wrist"] + (v[f"{x}_wrist"] - v[f"{x}_elbow"]) * 0.3),
        ]
        out = np.sign(v[f"{x}_wrist"][0]) * np.array([0.08, 0.0, 0.0])  # palms down, thumbs forward
        for finger, dz in (("index", 0.03), ("pinky", -0.03)):
            knuckle = v[f"{x}_wrist"] + out + np.array([0.0, 0.0, dz])
            spec.append((f"{finger}_01_{s}", f"hand_{s}", knuckle, knuckle + out * 0.5))
    names = [b[0] for b in spec]
    rolls = np.zeros(len(spec)) if rolls is None else np.asarray(rolls, dtype=np.float64)
    rest = np.tile(np.eye(4), (len(spec), 1, 1))
    for i, (_, _, head, tail) in enumerate(spec):
        rest[i, :3, :3] = blender_bone_matrix(head, tail, float(rolls[i]))
        rest[i, :3, 3] = head
    parents = tuple(names.index(b[1]) if b[1] else -1 for b in spec)
    # four vertices per bone: around its middle (weight 1) and near its head (half with the parent)
    verts, joints, weights = [], [], []
    for i, (_, _, head, tail) in enumerate(spec):
        axis = (tail - head) / np.linalg.norm(tail - head)
        side = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
        side = 0.03 * side / np.linalg.norm(side)
        for t, off in ((0.5, side), (0.5, -side), (0.1, side), (0.1, np.cross(axis, side))):
            verts.append(head + t * (tail - head) + off)
            if t < 0.5 and parents[i] >= 0:
                joints.append([i, parents[i]])
                weights.append([0.5, 0.5])
            else:
                joints.append([i, i])
                weights.append([1.0, 0.0])
    faces = np.array([[4 * i, 4 * i + 1, 4 * i + 2] for i in range(len(spec))])
    mesh = SkinnedMesh(np.array(verts), faces, np.array(joints), np.array(weights), name="tpose_body")
    tails = np.array([b[3] for b in spec])
    return Rig(name=name, bone_names=tuple(names), parents=parents, rest=rest, tails=tails, mesh=mesh)


def walk_sequence(
    seconds: float = 6.0, fps: float = 30.0, *, path: str = "line", stride: float = 1.4,
    period: float = 1.0, stance: float = 0.6, lift: float = 0.12, radius: float = 2.0,
) -> tuple[PoseSequence, np.ndarray]:
    """A walk with exactly known foot contacts: ``(sequence, contacts (T, 2) bool)`` for the
    left and right ankle (columns in that order).

    Each foot rests (ankle :data:`TPOSE_H36M17`'s 8 cm up, perfectly still) for the first
    ``stance`` fraction of its gait cycle of ``period`` seconds, then swings ``stride`` metres
    forward, ``lift`` metres up at mid-swing; the right foot is half a cycle behind. The body
    rides along the path: ``"line"`` walks along +Z, ``"circle"`` counter-clockwise round a
    circle of ``radius`` about the origin (feet left and right of the path), so its contacts
    cover the floor in two directions. The body joints keep T-pose offsets from the pelvis.
    """
    t = np.arange(int(round(seconds * fps))) / fps
    rest = TPOSE_H36M17
    names = H36M17.joint_names
    j = np.zeros((t.size, len(names), 3))
    contacts = np.zeros((t.size, 2), dtype=bool)

    def place(s: np.ndarray, lateral: float | np.ndarray, height: np.ndarray) -> np.ndarray:
        if path == "line":
            return np.stack([np.broadcast_to(lateral, s.shape), height, s], -1)
        angle = s / radius
        r = radius - lateral  # the subject's left (+X when facing +Z) is inside the circle
        return np.stack([r * np.cos(angle), height, r * np.sin(angle)], -1)

    s_body = stride * t / period
    for k in range(len(names)):
        j[:, k] = place(s_body, rest[k, 0], np.full(t.size, rest[k, 1]))
    for col, (side, offset) in enumerate((("left", 0.0), ("right", -0.5))):
        k = names.index(f"{side}_ankle")
        cyc = t / period + offset
        c, u = np.floor(cyc), cyc - np.floor(cyc)
        swing = np.clip((u - stance) / (1.0 - stance), 0.0, 1.0)
        ease = swing * swing * (3.0 - 2.0 * swing)
        s = stride * (c + ease) + stride * 0.25
        height = rest[k, 1] + lift * np.sin(np.pi * swing)
        j[:, k] = place(s, rest[k, 0], height)
        contacts[:, col] = u < stance
        knee = names.index(f"{side}_knee")
        j[:, knee] = 0.5 * (j[:, k] + j[:, names.index(f"{side}_hip")])
    seq = PoseSequence(
        joints=j.astype(np.float32), skeleton=H36M17, fps=fps, timestamps=t, space="world",
        confidence=np.ones(j.shape[:2], dtype=np.float32),
    )
    return seq, contacts
