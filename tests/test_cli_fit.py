"""``pose2rig fit`` and ``convert --fit-body`` (pose2rig/pipeline.py: fit_file, fit_pose,
load_body_model): Anny by default, SMPL from the synthetic SMPL-format model; bad input in one
line with nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pose2rig.body.fit import FitOptions
from pose2rig.body.io import read_body_npz
from pose2rig.body.smpl import load_smpl_body
from pose2rig.cli import (
    cli,  # first: it sets OMP_WAIT_POLICY before torch is imported (4x faster on 2 cores)
)
from pose2rig.errors import ArgumentError
from pose2rig.io.npz import read_arrays, write_arrays
from pose2rig.options import ConvertOptions, Outputs
from pose2rig.pipeline import convert, fit_file
from pose2rig.skeletons import H36M17
from pose2rig.testing import walk_sequence, write_synthetic_smpl
from pose2rig.types import Camera, Keypoints2D

FRAMES = 10
QUICK = FitOptions(shape_iters=40, orient_iters=10, pose_iters=40)
"""Fewer iterations than the defaults: enough for a few frames of the model's own motion."""


@pytest.fixture(scope="module")
def smpl_file(tmp_path_factory) -> Path:
    return write_synthetic_smpl(tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.npz")


@pytest.fixture(scope="module")
def smpl_motion(smpl_file) -> np.ndarray:
    """``(FRAMES, 17, 3)`` Human3.6M-17 joints of the synthetic SMPL body in a smooth motion
    (knees and elbows bending the natural way, arms swinging), standing on y = 0, facing +Z."""
    model = load_smpl_body(smpl_file)
    s = np.linspace(0.0, 1.0, FRAMES)[:, None]
    pose = np.zeros((FRAMES, 24, 3))
    pose[:, 4, 0] = pose[:, 5, 0] = (0.2 + 0.6 * s)[:, 0]  # knees flex (about +X: the shin swings back)
    pose[:, 1, 0] = -(0.1 + 0.4 * s)[:, 0]  # left hip flexes forward
    pose[:, 16, 2] = -1.0  # left arm down
    pose[:, 17, 2] = 1.0  # right arm down
    pose[:, 18, 1] = -(0.3 + 0.8 * s[:, 0])  # left elbow bends (about -Y: the T-pose forearm swings forward)
    pose[:, 0, 1] = 0.3 * s[:, 0]  # the body turns
    trans = np.concatenate([0.1 * s, np.zeros_like(s), 0.5 * s], axis=1)
    with torch.no_grad():
        out = model(torch.as_tensor(pose, dtype=torch.float32), torch.zeros(1, 10),
                    torch.as_tensor(trans, dtype=torch.float32))
        return model.h36m17(out).numpy()


def _pose_npz(path: Path, joints: np.ndarray, fps: float = 30.0) -> Path:
    write_arrays(path, {"joints3d_world": joints.astype(np.float32), "fps": np.float64(fps),
                        "joint_names": np.asarray(H36M17.joint_names),
                        "confidence": np.ones(joints.shape[:2], np.float32)})
    return path


def _run(*args: object):
    return CliRunner().invoke(cli, ["fit", *map(str, args)])


# ----------------------------------------------------------------------------- the command
def test_cli_fits_anny_by_default_with_one_wrote_line(tmp_path, smpl_motion):
    src, out = _pose_npz(tmp_path / "pose.npz", smpl_motion), tmp_path / "body.npz"
    res = _run(src, "-o", out)
    assert res.exit_code == 0, res.output
    body = read_body_npz(out)
    assert body.kind == "anny" and body.num_frames == FRAMES and body.coordinate_system == "y_up"
    err = np.linalg.norm(body.joints - smpl_motion, axis=-1).mean(axis=1)
    np.testing.assert_allclose(body.error, err, atol=1e-5)
    assert float(err.mean()) < 0.05  # another body's motion (SMPL's proportions): within a few cm
    (line,) = res.stdout.strip().splitlines()
    assert line == f"wrote body (anny): {out} ({FRAMES} frames, mean joint error {1000 * np.mean(body.error):.1f} mm)"


def test_cli_fits_smpl_from_a_model_file_and_writes_an_amass_file(tmp_path, smpl_file, smpl_motion):
    src, out = _pose_npz(tmp_path / "pose.npz", smpl_motion), tmp_path / "body.npz"
    res = _run(src, "-o", out, "--smpl-model", smpl_file, "--smpl-gender", "male", "--fit-device", "cpu", "-q")
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    raw = read_arrays(out)
    assert raw["poses"].shape == (FRAMES, 72) and str(raw["gender"]) == "male"
    assert str(raw["coordinate_system"]) == "z_up" and float(raw["mocap_framerate"]) == 30.0
    body = read_body_npz(out)
    err = np.linalg.norm(body.joints - smpl_motion, axis=-1).mean()
    assert err < 0.01  # its own body's motion: recovered to within a centimetre
    np.testing.assert_allclose(body.error, np.linalg.norm(body.joints - smpl_motion, axis=-1).mean(axis=1), atol=1e-5)


def test_fit_file_weights_joints_by_confidence_and_skips_missing_ones(tmp_path, smpl_file, smpl_motion):
    """A wrist thrown 1 m to the side with confidence 0 does not pull the arm; a frame with no
    joints at all is posed (from the initialisation), its error NaN."""
    joints = smpl_motion.copy()
    wrist = H36M17.index("left_wrist")
    joints[3, wrist] += [1.0, 0.0, 0.0]
    joints[6] = np.nan
    conf = np.ones(joints.shape[:2], np.float32)
    conf[3, wrist] = 0.0
    src = tmp_path / "pose.npz"
    write_arrays(src, {"joints3d_world": joints, "fps": np.float64(30), "confidence": conf})
    fit = fit_file(src, tmp_path / "body.npz", ConvertOptions.from_flat(smpl_model=smpl_file), fit_options=QUICK,
                   progress=False)
    assert np.isnan(fit.error[6]) and np.isfinite(np.delete(fit.error, 6)).all()
    elbow = H36M17.index("left_elbow")
    assert np.linalg.norm(fit.joints[3, elbow] - smpl_motion[3, elbow]) < 0.02
    assert fit.joints[3, wrist, 0] - smpl_motion[3, wrist, 0] < 0.05  # not pulled toward +X
    assert np.isfinite(fit.joints[6]).all()  # the missing frame is still posed


def _no_joints(path: Path) -> None:
    write_arrays(path, {"fps": np.float64(30), "something": np.zeros(3)})


def _wrong_model(path: Path) -> None:
    write_arrays(path, {"v_template": np.zeros((5, 3))})


@pytest.mark.parametrize("make, model, says", [
    (None, None, "does not exist"),
    (lambda p: p.write_text("hello"), None, "not a readable .npz"),
    (_no_joints, None, "not a pose2rig keypoints or pose file"),
    ("pose", "missing.pkl", "smpl.is.tue.mpg.de"),
    ("pose", _wrong_model, "smpl.is.tue.mpg.de"),
    ("pose", lambda p: p.write_text("not a model"), "not an SMPL model file"),
])
def test_cli_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, smpl_motion, make, model, says):
    src, out = tmp_path / "pose.npz", tmp_path / "out" / "body.npz"
    if make == "pose":
        _pose_npz(src, smpl_motion)
    elif make is not None:
        make(src)
    args: list[object] = [src, "-o", out]
    if model is not None:
        path = tmp_path / (model if isinstance(model, str) else "model.npz")
        if callable(model):
            model(path)
        args += ["--smpl-model", path]
    res = _run(*args)
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], res.stderr
    assert not out.exists()


def test_cli_names_its_flags_in_errors(tmp_path, smpl_motion):
    src = _pose_npz(tmp_path / "pose.npz", smpl_motion)
    res = _run(src, "-o", tmp_path / "body.txt")
    assert res.exit_code == 1 and "--output" in res.stderr and "must be an .npz file" in res.stderr
    res = _run(tmp_path / "pose.csv", "-o", tmp_path / "body.npz")
    assert res.exit_code == 1 and "SOURCE" in res.stderr and "must be a pose2rig .npz or a .bvh" in res.stderr
    res = _run(src, "-o", tmp_path / "body.npz", "--smpl-gender", "male")  # Anny takes no gender: not ignored
    assert res.exit_code == 1 and "--smpl-gender" in res.stderr and "--smpl-model" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "body.npz").exists()


# ----------------------------------------------------------------------------- convert --fit-body
def _clip(tmp_path: Path, frames: int) -> tuple[Path, Keypoints2D]:
    """A blank video of ``frames`` frames and keypoints of a walk seen from 4 m: convert reads
    only the video's frame rate when given keypoints."""
    from pose2rig.video import VideoWriter

    size = (320, 240)
    video = tmp_path / "clip.mp4"
    with VideoWriter(video, fps=30.0, size=size) as w:
        for _ in range(frames):
            w.write(np.zeros((size[1], size[0], 3), np.uint8))
    walk, _ = walk_sequence(frames / 30.0, stride=0.3)
    cam = walk.joints.astype(np.float64) * [1.0, -1.0, 1.0] + [0.0, 1.0, 4.0]  # y down, 4 m away
    camera = Camera.from_fov(size, 60.0)
    kp = Keypoints2D(keypoints=camera.project(cam), confidence=np.ones((frames, 17), np.float32), skeleton=H36M17,
                     image_size=size, fps=30.0, timestamps=np.arange(frames) / 30.0)
    return video, kp


def test_convert_fit_body_puts_the_fit_on_the_result_and_writes_the_body_output(tmp_path, smpl_file):
    video, kp = _clip(tmp_path, 20)
    out = tmp_path / "out"
    result = convert(video, Outputs(npz=out / "clip.npz", body=out / "clip.body.npz"),
                     ConvertOptions.from_flat(fit_body=True, smpl_model=smpl_file), keypoints=kp, progress=False,
                     fit_options=QUICK)
    assert result.body is not None and result.body.kind == "smpl"
    assert result.outputs["body"] == out / "clip.body.npz" and "body fit" in result.timings
    body = read_body_npz(out / "clip.body.npz")
    world = read_arrays(out / "clip.npz")["joints3d_world"]
    assert body.num_frames == world.shape[0] == 20
    np.testing.assert_allclose(body.joints, result.body.joints, atol=1e-6)
    # fitted on the cleaned world joints that the pose file holds
    assert float(np.nanmean(np.linalg.norm(body.joints - world, axis=-1))) < 0.06


def test_convert_without_fit_body_fits_nothing_and_smpl_model_alone_is_refused(tmp_path, smpl_file):
    video, kp = _clip(tmp_path, 5)
    result = convert(video, options=ConvertOptions.from_flat(), keypoints=kp, progress=False)
    assert result.body is None
    with pytest.raises(ArgumentError, match="smpl_model is the body fit's model"):
        convert(video, Outputs(npz=tmp_path / "a.npz"), ConvertOptions.from_flat(smpl_model=smpl_file), keypoints=kp)
    res = CliRunner().invoke(cli, ["convert", str(video), "--npz", str(tmp_path / "a.npz"), "--smpl-model",
                                   str(smpl_file)])
    assert res.exit_code == 1
    assert res.stderr.strip() == "error: --smpl-model is the body fit's model: give --fit-body or --body too"
    assert not (tmp_path / "a.npz").exists()


@pytest.mark.parametrize("floor", [True, False])
def test_frames_nobody_was_seen_in_stay_on_the_filled_joints(tmp_path, smpl_file, smpl_motion, floor, monkeypatch):
    """The clip's last frames unseen (every confidence 0) but filled by the clean-up: the fit
    keeps them on the filled joints (:data:`pose2rig.pipeline.UNSEEN_WEIGHT`); with no weight at
    all (the floor set to 0 here) nothing holds them and they drift."""
    import pose2rig.pipeline as pipeline

    if not floor:
        monkeypatch.setattr(pipeline, "UNSEEN_WEIGHT", 0.0)
    conf = np.ones(smpl_motion.shape[:2], np.float32)
    conf[-4:] = 0.0
    src = tmp_path / "pose.npz"
    write_arrays(src, {"joints3d_world": smpl_motion, "fps": np.float64(30), "confidence": conf})
    fit = fit_file(src, tmp_path / "body.npz", ConvertOptions.from_flat(smpl_model=smpl_file), fit_options=QUICK,
                   progress=False)
    err = np.linalg.norm(fit.joints[-4:] - smpl_motion[-4:], axis=-1).mean()
    assert (err < 0.015) if floor else (err > 0.03), err
