"""Exact synthetic fixtures for tests and examples: a T-posed Human3.6M-17 body and a small rig
built on it (bones named as an Unreal / MPFB2 game-engine rig), with a skinned mesh; a synthetic
SMPL-format body model (``synthetic_smpl_arrays``, ``write_synthetic_smpl``) and a malicious
pickle for the SMPL loader's tests."""

from __future__ import annotations

import io
import os
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pose2rig.errors import ArgumentError
from pose2rig.io.mpfb2 import blender_bone_matrix
from pose2rig.rig import Rig, SkinnedMesh
from pose2rig.skeletons import H36M17
from pose2rig.types import PoseSequence

__all__ = [
    "SYNTHETIC_SMPL_HEIGHT",
    "SYNTHETIC_SMPL_JOINTS",
    "TPOSE_H36M17",
    "cut_video",
    "malicious_pickle",
    "synthetic_smpl_arrays",
    "tpose_rig",
    "tpose_sequence",
    "walk_sequence",
    "write_synthetic_gmm",
    "write_synthetic_smpl",
]

def cut_video(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, end: float) -> Path:
    """The first ``end`` seconds of the video ``src``, re-encoded with PyAV into ``dst`` at its
    size and rate (a short real clip for tests that convert a video)."""
    from pose2rig.video import VideoWriter, open_video

    path = Path(dst)
    with open_video(Path(src), end=end) as video:
        info = video.info
        with VideoWriter(path, fps=info.fps, size=(info.width, info.height)) as out:
            for frame in video:
                out.write(frame.image)
    return path


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


# --- a synthetic SMPL-format body model (issue 14) -----------------------------------------
# SMPL's files cannot ship, so the SMPL path is tested on a model built here: SMPL's 6,890
# vertices and 24-joint tree, a human made of closed tubes around the bones of a 1.70 m rest
# T-pose, and shape directions with a meaning. Written as an .npz or as the official .pkl layout.

_SMPL_REST_TABLE = (  # SMPL's joint order (pose2rig.body.smpl_file.SMPL_JOINT_NAMES)
    ("pelvis", (0.0, 0.93, 0.0)), ("left_hip", (0.09, 0.85, 0.0)), ("right_hip", (-0.09, 0.85, 0.0)),
    ("spine1", (0.0, 1.04, 0.0)), ("left_knee", (0.10, 0.48, 0.0)), ("right_knee", (-0.10, 0.48, 0.0)),
    ("spine2", (0.0, 1.17, 0.0)), ("left_ankle", (0.10, 0.08, 0.0)), ("right_ankle", (-0.10, 0.08, 0.0)),
    ("spine3", (0.0, 1.28, 0.0)), ("left_foot", (0.10, 0.035, 0.10)), ("right_foot", (-0.10, 0.035, 0.10)),
    ("neck", (0.0, 1.45, 0.0)), ("left_collar", (0.07, 1.38, 0.0)), ("right_collar", (-0.07, 1.38, 0.0)),
    ("head", (0.0, 1.53, 0.0)), ("left_shoulder", (0.18, 1.40, 0.0)), ("right_shoulder", (-0.18, 1.40, 0.0)),
    ("left_elbow", (0.45, 1.40, 0.0)), ("right_elbow", (-0.45, 1.40, 0.0)),
    ("left_wrist", (0.70, 1.40, 0.0)), ("right_wrist", (-0.70, 1.40, 0.0)),
    ("left_hand", (0.79, 1.40, 0.0)), ("right_hand", (-0.79, 1.40, 0.0)),
)
_SMPL_REST = dict(_SMPL_REST_TABLE)
SYNTHETIC_SMPL_JOINTS = np.array([xyz for _, xyz in _SMPL_REST_TABLE], dtype=np.float64)
"""``(24, 3)`` the synthetic SMPL model's rest joints (SMPL's order), metres, Y up, facing +Z,
the floor at y = 0 under the feet, the head's top at 1.70 m."""

SYNTHETIC_SMPL_HEIGHT = 1.70
"""Height of the synthetic SMPL model's rest mesh (floor to the head's top), metres."""

_SIDES = 18  # vertices per ring: 16 tubes x 2 caps + 381 rings x 18 = 6,890 vertices


def _smpl_tubes() -> list[dict[str, Any]]:
    """Each tube: key ring centres (joints where a joint's ring is), radii (across u, across
    w), the joint names it belongs to (for the shape directions), and its end caps' lengths."""
    j = {k: np.array(v) for k, v in _SMPL_REST.items()}
    tubes: list[dict[str, Any]] = [
        dict(name="torso", keys=[(0, 0.80, 0), j["pelvis"], j["spine1"], j["spine2"], j["spine3"], j["neck"]],
             radii=[(0.13, 0.09), (0.15, 0.10), (0.13, 0.09), (0.14, 0.10), (0.16, 0.10), (0.06, 0.05)],
             ref=(0, 0, 1), caps=(0.03, 0.0), part="torso"),
        dict(name="head", keys=[j["neck"], j["head"], (0, 1.62, 0), (0, 1.68, 0)],
             radii=[(0.05, 0.05), (0.08, 0.09), (0.085, 0.10), (0.05, 0.06)],
             ref=(0, 0, 1), caps=(0.0, 0.02), part="head"),
    ]
    for side in ("left", "right"):
        s = 1.0 if side == "left" else -1.0
        p = {k[len(side) + 1:]: v for k, v in j.items() if k.startswith(side)}
        tubes += [
            dict(name=f"{side}_collar", keys=[p["collar"], p["shoulder"]], radii=[(0.05, 0.05)] * 2,
                 ref=(0, 0, 1), caps=(0.0, 0.0), part="collar", side=s),
            dict(name=f"{side}_upper_arm", keys=[p["shoulder"], p["elbow"]], radii=[(0.05, 0.05), (0.04, 0.04)],
                 ref=(0, 0, 1), caps=(0.0, 0.0), part="arm", side=s),
            dict(name=f"{side}_forearm", keys=[p["elbow"], p["wrist"]], radii=[(0.04, 0.04), (0.03, 0.035)],
                 ref=(0, 0, 1), caps=(0.0, 0.0), part="arm", side=s),
            dict(name=f"{side}_hand", keys=[p["wrist"], p["hand"], (s * 0.86, 1.40, 0.0)],
                 radii=[(0.02, 0.04), (0.015, 0.045), (0.01, 0.04)], ref=(0, 0, 1), caps=(0.0, 0.02),
                 part="arm", side=s),
            dict(name=f"{side}_thigh", keys=[p["hip"], p["knee"]], radii=[(0.08, 0.08), (0.05, 0.055)],
                 ref=(0, 0, 1), caps=(0.0, 0.0), part="leg", side=s),
            dict(name=f"{side}_shin", keys=[p["knee"], p["ankle"]], radii=[(0.05, 0.055), (0.035, 0.035)],
                 ref=(0, 0, 1), caps=(0.0, 0.0), part="leg", side=s),
            dict(name=f"{side}_foot", keys=[(s * 0.10, 0.035, -0.06), p["foot"], (s * 0.10, 0.02, 0.17)],
                 radii=[(0.04, 0.035), (0.045, 0.035), (0.035, 0.02)], ref=(0, 1, 0), caps=(0.02, 0.02),
                 part="leg", side=s),
        ]
    for t in tubes:
        t["keys"] = np.array(t["keys"], dtype=np.float64)
        t["radii"] = np.array(t["radii"], dtype=np.float64)
    return tubes


def _ring_counts(tubes: list[dict[str, Any]], total: int) -> list[np.ndarray]:
    """Extra rings per key segment, by length (largest remainder), so that all rings sum to
    ``total``; returns per tube the number of rings inserted in each of its segments."""
    lengths = [np.linalg.norm(np.diff(t["keys"], axis=0), axis=1) for t in tubes]
    flat = np.concatenate(lengths)
    extra = total - sum(len(t["keys"]) for t in tubes)
    share = flat / flat.sum() * extra
    n = np.floor(share).astype(int)
    n[np.argsort(-(share - n))[: extra - n.sum()]] += 1
    out, i = [], 0
    for seg in lengths:
        out.append(n[i:i + len(seg)])
        i += len(seg)
    return out


def _smpl_mesh(rng: np.random.Generator) -> dict[str, Any]:
    """Vertices, faces, per-vertex ring centre, tube index, and the rings centred on joints."""
    tubes = _smpl_tubes()
    total_rings = (6890 - 2 * len(tubes)) // _SIDES
    counts = _ring_counts(tubes, total_rings)
    verts: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    centres: list[np.ndarray] = []
    tube_of: list[np.ndarray] = []
    joint_rings: dict[int, list[np.ndarray]] = {}
    rest = SYNTHETIC_SMPL_JOINTS
    theta = 2.0 * np.pi * np.arange(_SIDES) / _SIDES
    for ti, (t, cnt) in enumerate(zip(tubes, counts)):
        centre_list, radius_list = [t["keys"][0]], [t["radii"][0]]
        for s in range(len(t["keys"]) - 1):
            for a in np.arange(1, cnt[s] + 2) / (cnt[s] + 1):
                centre_list.append((1 - a) * t["keys"][s] + a * t["keys"][s + 1])
                radius_list.append((1 - a) * t["radii"][s] + a * t["radii"][s + 1])
        cs, rs = np.array(centre_list), np.array(radius_list)
        base = sum(len(v) for v in verts)
        ring_v = []
        for i, (c, r) in enumerate(zip(cs, rs)):
            d = cs[min(i + 1, len(cs) - 1)] - cs[max(i - 1, 0)]
            d /= np.linalg.norm(d)
            u = np.cross(d, np.asarray(t["ref"], dtype=np.float64))
            u /= np.linalg.norm(u)
            w = np.cross(u, d)
            ph = theta + rng.uniform(-0.3, 0.3) * 2.0 * np.pi / _SIDES  # ring means stay exact
            ring_v.append(c + r[0] * np.cos(ph)[:, None] * u + r[1] * np.sin(ph)[:, None] * w)
            hit = np.flatnonzero(np.linalg.norm(rest - c, axis=1) < 1e-9)
            for jj in hit:
                joint_rings.setdefault(int(jj), []).append(base + i * _SIDES + np.arange(_SIDES))
        v = np.concatenate(ring_v)
        d0 = (cs[1] - cs[0]) / np.linalg.norm(cs[1] - cs[0])
        d1 = (cs[-1] - cs[-2]) / np.linalg.norm(cs[-1] - cs[-2])
        v = np.concatenate([v, [cs[0] - t["caps"][0] * d0, cs[-1] + t["caps"][1] * d1]])
        n = len(cs)
        k = np.arange(_SIDES)
        f = []
        for i in range(n - 1):
            a, b = i * _SIDES + k, i * _SIDES + (k + 1) % _SIDES
            f += [np.stack([a, b, b + _SIDES], 1), np.stack([a, b + _SIDES, a + _SIDES], 1)]
        start, end = n * _SIDES, n * _SIDES + 1
        f += [np.stack([np.full(_SIDES, start), (k + 1) % _SIDES, k], 1),
              np.stack([np.full(_SIDES, end), (n - 1) * _SIDES + k, (n - 1) * _SIDES + (k + 1) % _SIDES], 1)]
        f = np.concatenate(f)
        tri = v[f]
        if np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() < 0:  # inward
            f = f[:, ::-1]
        verts.append(v)
        faces.append(f + base)
        centres.append(np.concatenate([np.repeat(cs, _SIDES, axis=0), [cs[0], cs[-1]]]))
        tube_of.append(np.full(len(v), ti))
    return dict(v=np.concatenate(verts), f=np.concatenate(faces), centre=np.concatenate(centres),
                tube=np.concatenate(tube_of), tubes=tubes, joint_rings=joint_rings)


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip((p - a) @ ab / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _smpl_weights(v: np.ndarray) -> np.ndarray:
    """``(V, 24)`` smooth skinning weights: each joint owns the bones to its children (leaves:
    to their end point); a vertex takes ``exp(-((d - d_min) / 2 cm)^2)`` of each, normalised."""
    from pose2rig.body.smpl_file import SMPL_PARENTS

    rest = SYNTHETIC_SMPL_JOINTS
    ends = {0: [(0.0, 0.80, 0.0)], 10: [(0.10, 0.02, 0.19)], 11: [(-0.10, 0.02, 0.19)],
            7: [(0.10, 0.035, -0.08)], 8: [(-0.10, 0.035, -0.08)], 15: [(0.0, 1.70, 0.0)],
            22: [(0.88, 1.40, 0.0)], 23: [(-0.88, 1.40, 0.0)]}
    dist = np.full((len(v), 24), np.inf)
    for jj in range(24):
        targets = [rest[c] for c in np.flatnonzero(SMPL_PARENTS == jj) if not (jj == 0 and c in (1, 2))]
        targets += [np.array(e) for e in ends.get(jj, [])]
        for e in targets:
            dist[:, jj] = np.minimum(dist[:, jj], _segment_distance(v, rest[jj], e))
    w = np.exp(-(((dist - dist.min(axis=1, keepdims=True)) / 0.02) ** 2))
    w[w < 1e-4] = 0.0
    return w / w.sum(axis=1, keepdims=True)


def _smpl_shapedirs(mesh: dict[str, np.ndarray], num_betas: int) -> np.ndarray:
    """``(V, 3, num_betas)``: 0 height (uniform scale about the floor point under the body),
    1 limb length (arms and legs), 2 girth, 3 torso length, 4 shoulder width, 5 leg length,
    6 arm length, 7 hip width, 8 head size, 9 belly. +1 is a large but plausible change."""
    v, c = mesh["v"], mesh["centre"]
    part = np.array([t["part"] for t in mesh["tubes"]])[mesh["tube"]]
    side = np.array([t.get("side", 0.0) for t in mesh["tubes"]])[mesh["tube"]]
    j = {k: np.array(x) for k, x in _SMPL_REST.items()}

    def per_side(name: str) -> np.ndarray:
        return np.where(side[:, None] > 0, j["left_" + name], j["right_" + name])

    arm, leg, torso = part == "arm", part == "leg", part == "torso"
    d = np.zeros((len(v), 3, 10))
    d[:, :, 0] = 0.05 * v
    d[arm, :, 1] = 0.10 * (c - per_side("shoulder"))[arm]
    d[leg, :, 1] = 0.10 * (c - per_side("hip"))[leg]
    d[:, :, 2] = 0.10 * (v - c)
    lift = 0.10 * np.clip(c[:, 1] - j["pelvis"][1], 0.0, None)
    lift[part == "head"] = 0.10 * (j["neck"][1] - j["pelvis"][1])
    lift[(part == "collar") | arm] = 0.10 * (j["left_collar"][1] - j["pelvis"][1])
    d[~leg, 1, 3] = lift[~leg]
    collar = part == "collar"
    d[collar, :, 4] = 0.3 * (c - per_side("collar"))[collar]
    d[arm, :, 4] = 0.3 * (per_side("shoulder") - per_side("collar"))[arm]
    d[leg, :, 5] = 0.10 * (c - per_side("hip"))[leg]
    d[arm, :, 6] = 0.10 * (c - per_side("shoulder"))[arm]
    d[leg, 0, 7] = 0.02 * side[leg]
    d[torso, 0, 7] = 0.15 * v[torso, 0] * np.clip((j["spine1"][1] - c[torso, 1]) / 0.24, 0.0, 1.0)
    head = part == "head"
    d[head, :, 8] = 0.15 * (v - j["neck"])[head]
    front = np.clip(v[:, 2] - c[:, 2], 0.0, None) * np.exp(-(((c[:, 1] - 1.05) / 0.1) ** 2))
    d[torso, 2, 9] = 0.3 * front[torso]
    return d[:, :, :num_betas]


def _nearest_vertex(v: np.ndarray, target: tuple[float, float, float]) -> int:
    return int(np.argmin(np.linalg.norm(v - np.asarray(target), axis=1)))


def synthetic_smpl_arrays(seed: int = 0, num_betas: int = 10) -> dict[str, np.ndarray]:
    """A 6,890-vertex SMPL-format model (SMPL's 24-joint tree and order), in the files' vocabulary.

    A 1.70 m rest T-pose (:data:`SYNTHETIC_SMPL_JOINTS`) made of 16 closed tubes around its
    bones (torso, head, collars, upper arms, forearms, hands, thighs, shins, feet; 18 vertices a
    ring); each joint's ``J_regressor`` row averages the rings centred on it, so the regressed
    rest joints are exactly the table's, and stay centred as the shape changes. Skinning
    weights are smooth over the nearest bones. Shape directions mean something (see
    ``_smpl_shapedirs``: 0 height, 1 limb length, 2 girth, ...; at most 10). ``posedirs`` are
    zero: the model has no pose correctives. ``vertex_id_names`` / ``vertex_id_indices`` name
    the landmark vertices smplx's ``VertexJointSelector`` asks for (nose, eyes, ears, toes,
    heels, finger tips), picked by position. ``seed`` turns each ring by a random phase (the
    mesh differs, the joints do not).

    Returns ``v_template (6890, 3)``, ``shapedirs (6890, 3, num_betas)``, ``posedirs (6890,
    3, 207)``, ``J_regressor (24, 6890)`` dense, ``weights (6890, 24)``, ``kintree_table (2,
    24)`` (root parent 4294967295 as in SMPL's files), ``f (F, 3)`` uint32, ``J (24, 3)``,
    ``vertex_id_names``, ``vertex_id_indices``.
    """
    from pose2rig.body.smpl_file import SMPL_PARENTS

    if not 0 <= num_betas <= 10:
        raise ArgumentError(f"{{num_betas}} must be between 0 and 10, got {num_betas}", "num_betas")
    mesh = _smpl_mesh(np.random.default_rng(seed))
    v = mesh["v"]
    if v.shape != (6890, 3):  # pragma: no cover - the construction's own check
        raise RuntimeError(f"synthetic SMPL mesh has {v.shape[0]} vertices, not 6890")
    jr = np.zeros((24, len(v)))
    for jj, rings in mesh["joint_rings"].items():
        idx = np.concatenate(rings)
        jr[jj, idx] = 1.0 / len(idx)
    kt = np.stack([SMPL_PARENTS, np.arange(24)]).astype(np.int64)
    kt[0, 0] = 4294967295
    targets = {"nose": (0, 1.62, 0.10), "reye": (-0.03, 1.64, 0.09), "leye": (0.03, 1.64, 0.09),
               "rear": (-0.085, 1.62, 0.0), "lear": (0.085, 1.62, 0.0)}
    for s, p in ((1.0, "l"), (-1.0, "r")):
        targets.update({f"{p}thumb": (s * 0.76, 1.40, 0.045), f"{p}index": (s * 0.86, 1.40, 0.03),
                        f"{p}middle": (s * 0.88, 1.40, 0.0), f"{p}ring": (s * 0.86, 1.40, -0.02),
                        f"{p}pinky": (s * 0.85, 1.40, -0.04)})
        big = p.upper()
        targets.update({f"{big}BigToe": (s * 0.065, 0.02, 0.17), f"{big}SmallToe": (s * 0.135, 0.02, 0.16),
                        f"{big}Heel": (s * 0.10, 0.0, -0.07)})
    names = sorted(targets)
    return {
        "v_template": v,
        "shapedirs": _smpl_shapedirs(mesh, num_betas),
        "posedirs": np.zeros((len(v), 3, 207)),
        "J_regressor": jr,
        "weights": _smpl_weights(v),
        "kintree_table": kt,
        "f": mesh["f"].astype(np.uint32),
        "J": jr @ v,
        "vertex_id_names": np.array(names),
        "vertex_id_indices": np.array([_nearest_vertex(v, targets[n]) for n in names], dtype=np.int64),
    }


class _StandIn:
    """A class that pickles under another module's name (``chumpy.ch.Ch``, ``scipy.sparse.csc.
    csc_matrix``) with the state the real one pickles: how SMPL's Python 2 files were written."""

    pickle_module = ""
    pickle_name = ""

    def __init__(self, state: dict) -> None:
        self._state = state

    def __getstate__(self) -> dict:
        return self._state


class _ChumpyCh(_StandIn):
    pickle_module, pickle_name = "chumpy.ch", "Ch"


class _ScipyCsc(_StandIn):
    pickle_module, pickle_name = "scipy.sparse.csc", "csc_matrix"


class _Python2Pickler(pickle._Pickler):  # the pure-Python pickler, whose opcodes can be chosen
    """Protocol 2 as Python 2 wrote it: text and bytes as 8-bit strings (``BINSTRING``), which
    Python 3 reads only with ``encoding="latin1"`` (numpy's raw data is not ASCII); stand-in
    classes under their own module names."""

    dispatch = dict(pickle._Pickler.dispatch)
    # the pure-Python pickler's own methods, which typeshed leaves out
    write: Callable[[bytes], None]
    memoize: Callable[[object], None]

    def _binstring(self, obj: object, data: bytes) -> None:
        n = len(data)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + data)
        self.memoize(obj)

    def save_bytes(self, obj: bytes) -> None:
        self._binstring(obj, obj)

    def save_str(self, obj: str) -> None:
        self._binstring(obj, obj.encode("latin1"))

    dispatch[bytes] = save_bytes  # type: ignore[assignment]  # typeshed types the values with Unpickler
    dispatch[str] = save_str  # type: ignore[assignment]  # typeshed types the values with Unpickler

    def save_global(self, obj: object, name: str | None = None) -> None:
        if isinstance(obj, type) and issubclass(obj, _StandIn):
            self.write(pickle.GLOBAL + f"{obj.pickle_module}\n{obj.pickle_name}\n".encode("ascii"))
            self.memoize(obj)
            return
        super().save_global(obj, name)  # type: ignore[misc]  # not in typeshed's _Pickler


def write_synthetic_smpl(path: str | os.PathLike[str], *, kind: str = "npz", seed: int = 0,
                         num_betas: int = 10) -> Path:
    """Write :func:`synthetic_smpl_arrays` as ``kind``: ``"npz"`` (plain arrays) or ``"pkl"``, the
    official SMPL layout: a Python 2 protocol-2 pickle (latin1 byte strings) of a dict with
    ``shapedirs`` a ``chumpy.ch.Ch`` and ``J_regressor`` a ``scipy.sparse.csc.csc_matrix``
    (their pickled state as chumpy and scipy wrote it), ``bs_style``/``bs_type`` strings, and
    the other arrays as numpy arrays. Returns the path."""
    if kind not in ("npz", "pkl"):
        raise ArgumentError(f"{{kind}} must be 'npz' or 'pkl', got {kind!r}", "kind")
    arrays = synthetic_smpl_arrays(seed=seed, num_betas=num_betas)
    p = Path(path)
    if kind == "npz":
        with open(p, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        return p
    jr = arrays["J_regressor"]
    cols = [np.flatnonzero(jr[:, c]) for c in range(jr.shape[1])]
    csc = _ScipyCsc({
        "_shape": jr.shape, "maxprint": 50, "format": "csc",
        "data": np.concatenate([jr[r, c] for c, r in enumerate(cols)]).astype(np.float64),
        "indices": np.concatenate(cols).astype(np.int32),
        "indptr": np.concatenate([[0], np.cumsum([len(r) for r in cols])]).astype(np.int32),
    })
    ch = _ChumpyCh({"x": arrays["shapedirs"], "_dirty_vars": {"x"}, "_itr": None,
                    "_depends_on_deps": {}, "_make_dense": False, "_make_sparse": False})
    model = dict(arrays, shapedirs=ch, J_regressor=csc, bs_style="lbs", bs_type="lrotmin")
    buf = io.BytesIO()
    _Python2Pickler(buf, protocol=2).dump(model)
    p.write_bytes(buf.getvalue())
    return p


def malicious_pickle(path: str | os.PathLike[str], marker: str | os.PathLike[str]) -> Path:
    """Write an SMPL-looking pickle that, loaded by ``pickle.load``, creates the file ``marker``
    (``builtins.open(marker, "w")`` through ``__reduce__``): the restricted loader must refuse
    it with nothing run. Returns the path."""

    class _Payload:
        def __reduce__(self) -> tuple:
            return (open, (str(marker), "w"))

    model = {"v_template": np.zeros((4, 3)), "f": _Payload()}
    p = Path(path)
    p.write_bytes(pickle.dumps(model, protocol=2))
    return p


def write_synthetic_gmm(path: str | os.PathLike[str], *, kind: str = "pkl", means: np.ndarray | None = None,
                        covars: np.ndarray | None = None, weights: np.ndarray | None = None,
                        components: int = 2, dim: int = 69, seed: int = 0) -> Path:
    """Write a Gaussian-mixture pose prior in the layout of SMPLify's ``gmm_08.pkl`` (``kind``
    ``"pkl"``: a Python 2 protocol-2 pickle, latin1 byte strings, of a dict of float64 numpy
    arrays ``means (K, D)``, ``covars (K, D, D)``, ``weights (K,)``) or as an ``.npz`` of the
    same arrays (``kind="npz"``). Arrays not given are drawn from ``seed``: ``K = components``
    means of about 0.1 rad, covariances ``A A^T / D`` plus a diagonal of 0.01 to 0.05 rad^2,
    weights positive summing to 1. Returns the path."""
    if kind not in ("npz", "pkl"):
        raise ArgumentError(f"{{kind}} must be 'npz' or 'pkl', got {kind!r}", "kind")
    rng = np.random.default_rng(seed)
    if means is None:
        means = 0.1 * rng.standard_normal((components, dim))
    means = np.asarray(means, dtype=np.float64)
    k, d = means.shape
    if covars is None:
        a = 0.1 * rng.standard_normal((k, d, d))
        covars = a @ np.swapaxes(a, 1, 2) / d + np.stack([np.diag(rng.uniform(0.01, 0.05, d)) for _ in range(k)])
    if weights is None:
        weights = rng.uniform(0.5, 1.0, k)
        weights = weights / weights.sum()
    gmm = {"means": means, "covars": np.asarray(covars, dtype=np.float64),
           "weights": np.asarray(weights, dtype=np.float64)}
    p = Path(path)
    if kind == "npz":
        with open(p, "wb") as fh:
            np.savez(fh, **gmm)
        return p
    buf = io.BytesIO()
    _Python2Pickler(buf, protocol=2).dump(gmm)
    p.write_bytes(buf.getvalue())
    return p
