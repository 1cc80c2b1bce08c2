"""The body fit's 2D reprojection term (pose2rig.body.fit.ImageTerm, issue 14), on the synthetic
6,890-vertex SMPL-format model posed by 30 frames of CMU ``scaled_131_02`` (``bench/fit_recovery.py``'s
pose maker: limbs along the mocap's bones, forearms twisted off the knee/elbow-plane rule by up
to 40 degrees, hands and feet turned by up to 10 degrees per axis) and seen by an exact
synthetic pinhole camera: the 2D heel, toe, index and pinky points fix the twist that the 17
joints leave open, without any 3D point."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from _bench_module import bench_module

from pose2rig.body import fit as fit_module
from pose2rig.body.fit import IMAGE_LANDMARKS, FitOptions, ImageTerm, fit_body
from pose2rig.errors import Pose2RigError
from pose2rig.skeletons import H36M17, MEDIAPIPE33

fr = bench_module("fit_recovery")
FRAMES = 30
K = np.array([[1000.0, 0.0, 960.0], [0.0, 1000.0, 540.0], [0.0, 0.0, 1.0]])


def look_at(eye: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World -> OpenCV camera ``(R, t)`` of a camera at ``eye`` looking at ``target``, y down
    (the world's -Y)."""
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(np.array([0.0, -1.0, 0.0]), z)
    x /= np.linalg.norm(x)
    r = np.stack([x, np.cross(z, x), z])
    return r, -r @ eye


def project(p: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    c = p @ r.T + t
    return (c[..., :2] / c[..., 2:]) @ K[:2, :2].T + K[:2, 2]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """The model, the truth, the camera (front-right, 4 m away, a little above) and the exact 2D
    term of :data:`IMAGE_LANDMARKS`."""
    from pose2rig.clean import resample
    from pose2rig.io.mocap import load_bvh_as_h36m17

    torch.set_num_threads(2)
    mocap = resample(load_bvh_as_h36m17(fr.MOCAP / "cmu" / "scaled_131_02.bvh"), fps=30.0).joints[:FRAMES]
    folder = tmp_path_factory.mktemp("model")
    model = fr.make_model("smpl", folder)
    rng = np.random.default_rng(7)
    truth = fr.mocap_pose(model, fr.random_shape(model, rng), mocap.astype(np.float64), rng)
    target = truth.h36m[:, 0].mean(axis=0)
    r, t = look_at(target + np.array([1.5, 0.5, 3.5]), target)
    outputs = {**{n: truth.h36m[:, H36M17.index(n)] for n in H36M17.joint_names}, **truth.points}
    pixels = np.stack([project(outputs[n], r, t) for n in IMAGE_LANDMARKS], axis=1)
    image = ImageTerm(pixels, np.ones(pixels.shape[:2]), IMAGE_LANDMARKS, K, r, t)
    return model, truth, image, folder / "synthetic_smpl.npz"


def orientation_error(model, fit, truth, joints: tuple[str, ...]) -> float:
    """Mean angle (degrees) between the fitted and true world rotations of ``joints``."""
    idx = [list(model.joint_names).index(j) for j in joints]
    d = np.einsum("tjab,tjac->tjbc", fit.rotations[:, idx].astype(np.float64), truth.world[:, idx])
    return float(np.degrees(np.arccos(np.clip((np.trace(d, axis1=-2, axis2=-1) - 1) / 2, -1, 1))).mean())


def outputs_of(truth, names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The truth as the fit's outputs: ``h (T, 17, 3)`` and the points ``names`` ``(T, P, 3)``."""
    h = torch.as_tensor(truth.h36m, dtype=torch.float32)
    pts = torch.as_tensor(np.stack([truth.points[n] for n in names], axis=1), dtype=torch.float32)
    return h, pts


def test_term_is_zero_at_the_truth_and_grows_off_it(scene):
    model, truth, image, _ = scene
    img = fit_module._Image(image, model, FRAMES, (), torch.device("cpu"))
    assert set(img.extra) == set(IMAGE_LANDMARKS[12:])
    h, pts = outputs_of(truth, img.extra)
    sel = slice(0, FRAMES)
    assert float(img.loss(h, pts, sel, 0.05)) < 1e-9
    moved = pts.clone()
    moved[:, img.extra.index("left_index")] += torch.tensor([0.0, 0.0, 0.05])  # 5 cm along world Z
    assert float(img.loss(h, moved, sel, 0.05)) > 1e-4 * FRAMES


def test_2d_points_fix_the_forearm_twist_and_the_feet_without_3d_points(scene):
    model, truth, image, _ = scene
    off = fit_body(model, truth.h36m, shape=truth.shape)
    on = fit_body(model, truth.h36m, shape=truth.shape, image=image)
    s_off, s_on = fr.scores(model, truth, off), fr.scores(model, truth, on)
    # the twist of the forearms, which only the hands' points show, drops clearly
    assert s_on["twist forearm"] < 0.8 * s_off["twist forearm"], (s_off, s_on)
    feet = ("left_ankle", "right_ankle")
    hands = ("left_wrist", "right_wrist")
    assert orientation_error(model, on, truth, feet) < 0.5 * orientation_error(model, off, truth, feet)
    assert orientation_error(model, on, truth, hands) < 0.8 * orientation_error(model, off, truth, hands)
    assert s_on["joint"] < 5.0 and s_on["swing"] <= s_off["swing"], (s_off, s_on)
    # a weight of 0 turns the term off: the fit without it, exactly
    zero = fit_body(model, truth.h36m, shape=truth.shape, image=image, options=FitOptions(w_2d=0.0))
    np.testing.assert_array_equal(zero.pose, off.pose)


def test_missing_and_unseen_landmarks_carry_no_weight(scene):
    model, truth, image, _ = scene
    rng = np.random.default_rng(0)
    pixels = image.pixels.copy()
    conf = image.confidence.copy()
    bad = rng.random(conf.shape) < 0.3
    pixels[bad] += 400.0  # far off where they carry no weight
    conf[bad] = 0.0
    pixels[:5, 3] = np.nan  # missing, confidence left at 1
    noisy = ImageTerm(pixels, conf, image.names, image.camera_matrix, image.rotation, image.translation)
    assert np.all(noisy.confidence[:5, 3] == 0.0)
    img = fit_module._Image(noisy, model, FRAMES, (), torch.device("cpu"))
    h, pts = outputs_of(truth, img.extra)
    h.requires_grad_(True)
    pts.requires_grad_(True)
    loss = img.loss(h, pts, slice(0, FRAMES), 0.05)
    assert float(loss.detach()) < 1e-9
    loss_off = img.loss(h + 0.01, pts + 0.01, slice(0, FRAMES), 0.05)
    loss_off.backward()
    assert torch.isfinite(h.grad).all() and torch.isfinite(pts.grad).all()
    # landmarks33 below the visibility bar get no weight
    lm = np.full((FRAMES, 33, 3), np.nan)
    idx = [MEDIAPIPE33.index(n) for n in IMAGE_LANDMARKS]
    lm[:, idx, :2] = image.pixels
    lm[:, idx, 2] = 0.9
    lm[:, MEDIAPIPE33.index("left_heel"), 2] = 0.3
    lm[2, MEDIAPIPE33.index("left_knee")] = np.nan
    world_r, world_t = image.rotation.T, -image.rotation.T @ image.translation
    term = ImageTerm.from_landmarks33(lm, K, world_r, world_t)
    c = dict(zip(term.names, term.confidence.T))
    assert np.all(c["left_heel"] == 0.0) and c["left_knee"][2] == 0.0 and c["left_knee"][3] == pytest.approx(0.9)
    np.testing.assert_allclose(term.rotation, image.rotation, atol=1e-12)
    np.testing.assert_allclose(term.translation, image.translation, atol=1e-12)


def test_a_point_behind_the_camera_stays_finite(scene):
    model, truth, image, _ = scene
    # a camera inside the body, at the pelvis of frame 0 looking forward: half the body behind it,
    # some points on its image plane
    r, t = look_at(truth.h36m[0, 0], truth.h36m[0, 0] + np.array([0.0, 0.0, 1.0]))
    behind = ImageTerm(image.pixels, image.confidence, image.names, K, r, t)
    img = fit_module._Image(behind, model, FRAMES, (), torch.device("cpu"))
    h, pts = outputs_of(truth, img.extra)
    h[0, 0] = torch.as_tensor(truth.h36m[0, 0], dtype=torch.float32)  # depth exactly 0
    h.requires_grad_(True)
    z = (h.detach().numpy() @ r.T + t)[..., 2]
    assert (z < 0).any() and (z > 0).any()
    loss = img.loss(h, pts, slice(0, FRAMES), 0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(h.grad).all()
    fit = fit_body(model, truth.h36m[:8], shape=truth.shape, options=FitOptions(orient_iters=5, pose_iters=20),
                   image=ImageTerm(behind.pixels[:8], behind.confidence[:8], image.names, K, r, t))
    assert np.isfinite(fit.pose).all() and np.isfinite(fit.joints).all()


def test_bad_image_term_is_one_clear_error(scene):
    model, truth, image, _ = scene
    with pytest.raises(Pose2RigError, match="pixels"):
        ImageTerm(image.pixels[:, :3], image.confidence, image.names, K, image.rotation, image.translation)
    with pytest.raises(Pose2RigError, match="camera_matrix"):
        ImageTerm(image.pixels, image.confidence, image.names, np.eye(3) * [1, -1, 1], image.rotation,
                  image.translation)
    with pytest.raises(Pose2RigError, match="frames"):
        fit_body(model, truth.h36m[:5], image=image)
    with pytest.raises(Pose2RigError, match="w_2d"):
        FitOptions(w_2d=-1.0)


# ---------------------------------------------------------------------------------------------
# the pipeline: fit_file on pose files with and without landmarks33 and a camera


def _pose_file(path, truth, image, *, landmarks: bool, shift: float = 0.0):
    """A pose file as ``convert --npz`` writes it for the truth (the world map the camera's
    inverse), with ``landmarks33`` (the 20 landmarks of the 2D term at visibility 1, the rest
    missing) or without; ``shift`` moves the world joints off the map (root motion removed)."""
    from pose2rig.io.npz import write_arrays

    world_r, world_t = image.rotation.T, -image.rotation.T @ image.translation
    cam = (truth.h36m - world_t) @ world_r
    arrays = {
        "joints3d": cam.astype(np.float32), "joints3d_world": (truth.h36m + [shift, 0, 0]).astype(np.float32),
        "camera_matrix": K, "image_size": np.array([1920, 1080]), "joint_names": np.array(H36M17.joint_names),
        "fps": np.float64(30.0), "timestamps": np.arange(FRAMES) / 30.0,
        "confidence": np.ones((FRAMES, 17), np.float32), "world_rotation": world_r, "world_translation": world_t,
    }
    if landmarks:
        lm = np.full((FRAMES, 33, 3), np.nan, np.float32)
        idx = [MEDIAPIPE33.index(n) for n in IMAGE_LANDMARKS]
        lm[:, idx, :2] = image.pixels
        lm[:, idx, 2] = 1.0
        arrays["landmarks33"] = lm
    write_arrays(path, arrays)
    return path


def test_fit_file_uses_the_2d_term_where_the_pose_file_has_landmarks_and_a_camera(scene, tmp_path, caplog):
    from pose2rig.options import BodyOptions, ConvertOptions
    from pose2rig.pipeline import fit_file

    model, truth, image, smpl_path = scene
    opts = ConvertOptions(body=BodyOptions(smpl_model=smpl_path))
    feet = ("left_ankle", "right_ankle")
    with caplog.at_level(logging.INFO, logger="pose2rig.pipeline"):
        on = fit_file(_pose_file(tmp_path / "with.npz", truth, image, landmarks=True), tmp_path / "a.npz", opts,
                      progress=False)
    assert "2D term on 20 landmarks over 30 of 30 frames" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pose2rig.pipeline"):
        off = fit_file(_pose_file(tmp_path / "without.npz", truth, image, landmarks=False), tmp_path / "b.npz", opts,
                       progress=False)
    assert "no 2D term (no landmarks33)" in caplog.text
    assert np.isfinite(off.joints).all()
    assert orientation_error(model, on, truth, feet) < 0.5 * orientation_error(model, off, truth, feet)


def test_fit_file_skips_the_2d_term_where_the_world_is_not_the_cameras(scene, tmp_path, caplog):
    from pose2rig.io.npz import load_pose
    from pose2rig.options import BodyOptions, ConvertOptions
    from pose2rig.pipeline import fit_file, fit_pose

    _, truth, image, smpl_path = scene
    opts = ConvertOptions(body=BodyOptions(smpl_model=smpl_path))
    quick = FitOptions(shape_iters=5, orient_iters=2, pose_iters=5)
    # the file's world joints are not its camera joints through its map: the map is not used
    src = _pose_file(tmp_path / "moved.npz", truth, image, landmarks=True, shift=1.0)
    with caplog.at_level(logging.INFO, logger="pose2rig.pipeline"):
        fit_file(src, tmp_path / "c.npz", opts, fit_options=quick, progress=False)
    assert "no 2D term (no world map)" in caplog.text
    # a caller's map that does not fit the joints: refused by the reprojection check
    from pose2rig.pipeline import load_body_model

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pose2rig.pipeline"):
        fit_pose(load_pose(src), load_body_model(opts.body), opts.body, fit_options=quick, progress=False,
                 world_rotation=image.rotation.T, world_translation=-image.rotation.T @ image.translation)
    assert "no 2D term: the joints land" in caplog.text
