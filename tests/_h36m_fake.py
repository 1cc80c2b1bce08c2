"""Small fake Human3.6M files in the community's layout, written by the tests themselves.

Poses: a real CMU clip (h36m17, our Y-up world) turned into Human3.6M's Z-up mocap world and
spread over 32 joints; four cameras around the subject, calibrated as VideoPose3D lists them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pose2rig.geometry import matrix_to_quat
from pose2rig.io.h36m import H36M32_TO_H36M17, load_cameras

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap"
CLIP = DATA / "cmu_iclone" / "001_01.bvh"
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")


def clip_h36m17_world_z_up(frames: int = 120, step: int = 3) -> np.ndarray:
    """``(T, 17, 3)`` metres, Z up: our Y-up mocap rotated +90 deg about x."""
    from pose2rig.io.mocap import load_bvh_as_h36m17

    j = load_bvh_as_h36m17(CLIP).joints[: frames * step : step].astype(np.float64)
    return np.stack([j[..., 0], -j[..., 2], j[..., 1]], axis=-1)


def to32(j17: np.ndarray) -> np.ndarray:
    """Spread 17 joints over Human3.6M's 32; the 15 unused ones get a far-off sentinel."""
    out = np.full(j17.shape[:1] + (32, 3), 9.0, dtype=np.float32)
    out[:, list(H36M32_TO_H36M17)] = j17
    return out


def look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world rotation (columns: camera x right, y down, z forward) in a Z-up world."""
    z = target - centre
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


def cameras_json(subjects: tuple[str, ...], *, distortion: bool = True) -> dict:
    intr, extr = [], {}
    for i, cid in enumerate(CAMERA_IDS):
        intr.append({
            "id": cid, "res_w": 1000, "res_h": 1002, "azimuth": 70,
            "focal_length": [1145.0 + 3 * i, 1143.8 + 2 * i], "center": [512.5 - i, 515.4 + i],
            "radial_distortion": [-0.2, 0.24, -0.003] if distortion else [0, 0, 0],
            "tangential_distortion": [-0.001, -0.0014] if distortion else [0, 0],
        })
    for k, s in enumerate(subjects):
        row = []
        for i in range(len(CAMERA_IDS)):
            a = np.radians(45 + 90 * i + 7 * k)
            centre = np.array([5.0 * np.cos(a), 5.0 * np.sin(a), 1.6])
            q = matrix_to_quat(look_at(centre, np.array([0.0, 0.0, 1.0])))
            row.append({"orientation": q.tolist(), "translation": (1000 * centre).tolist()})
        extr[s] = row
    return {"intrinsic": intr, "extrinsic": extr, "translation_unit": "mm"}


def write_fake_h36m(
    folder: Path,
    *,
    subjects: tuple[str, ...] = ("S1", "S5", "S9", "S11"),
    actions: tuple[str, ...] = ("Walking 1", "TakingPhoto"),
    frames: int = 60,
    extra_2d_frames: int = 0,
) -> dict[str, Path]:
    """Write ``data_3d_h36m.npz``, ``data_2d_h36m_gt.npz``, ``h36m_cameras.json`` into ``folder``.

    Each (subject, action) gets its own slice of the clip, moved by a subject-wise offset.
    The 2D file is the 3D projected by each camera (VideoPose3D's formula), with
    ``extra_2d_frames`` more frames than the 3D (as detector files have).
    """
    folder.mkdir(parents=True, exist_ok=True)
    clip = clip_h36m17_world_z_up(frames=frames * len(actions) + extra_2d_frames)
    cams_doc = cameras_json(subjects)
    cams_path = folder / "h36m_cameras.json"
    cams_path.write_text(json.dumps(cams_doc))
    cams = load_cameras(cams_path)
    p3: dict = {}
    p2: dict = {}
    for k, s in enumerate(subjects):
        p3[s], p2[s] = {}, {}
        for i, a in enumerate(actions):
            world = clip[i * frames : (i + 1) * frames + extra_2d_frames] + np.array([0.1 * k, -0.2 * k, 0.0])
            p3[s][a] = to32(world[:frames])
            p2[s][a] = [c.project(c.world_to_camera(world)) for c in cams[s]]
    paths = {"3d": folder / "data_3d_h36m.npz", "2d": folder / "data_2d_h36m_gt.npz", "cameras": cams_path}
    np.savez_compressed(paths["3d"], positions_3d=p3)
    np.savez_compressed(paths["2d"], positions_2d=p2,
                        metadata={"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13],
                                                                           [1, 2, 3, 14, 15, 16]]})
    return paths
