"""The fitted body as a skinned GLB and as a preview over the clip (pose2rig/body/mesh.py,
pose2rig/pipeline.py: write_body_mesh, body_preview, fit_file's mesh/video/preview;
pose2rig/render_character.py: render_character_overlay): on the synthetic SMPL-format model and
on Anny, read back by pose2rig's GLB reader, Blender and the Khronos validator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import torch
from click.testing import CliRunner

from pose2rig.body.fit import BodyFit, FitOptions
from pose2rig.body.io import read_body_npz, write_body_npz
from pose2rig.body.mesh import body_rig, skin_weights
from pose2rig.body.smpl import load_smpl_body
from pose2rig.cli import (
    cli,  # first: it sets OMP_WAIT_POLICY before torch is imported (4x faster on 2 cores)
)
from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.io.gltf import load_gltf_rig, read_glb_animation
from pose2rig.io.npz import write_arrays
from pose2rig.options import ConvertOptions
from pose2rig.pipeline import body_preview, fit_file, write_body_mesh
from pose2rig.retarget.lbs import skin
from pose2rig.skeletons import H36M17
from pose2rig.testing import write_synthetic_smpl
from pose2rig.video import VideoWriter, open_video

REPO = Path(__file__).resolve().parents[1]
FRAMES = 8
QUICK = FitOptions(shape_iters=30, orient_iters=10, pose_iters=30)
SIZE = (160, 120)  # the clip: width, height
K = np.array([[150.0, 0.0, 80.0], [0.0, 150.0, 60.0], [0.0, 0.0, 1.0]])
# the camera 3.5 m in front of the body (which faces +Z), 1 m up, looking back along -Z:
# p_world = R @ p_camera + t with OpenCV axes (x right = world +X, y down = -Y, z forward = -Z)
CAM_R = np.diag([1.0, -1.0, -1.0])
CAM_T = np.array([0.0, 1.0, 3.5])


@pytest.fixture(scope="module")
def smpl(tmp_path_factory):
    path = write_synthetic_smpl(tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.npz")
    return path, load_smpl_body(path)


def _motion(model, frames: int = FRAMES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth motion of the model's joints (pose, shape, translation): knees and one elbow bend,
    arms down, the body turns and walks forward."""
    s = np.linspace(0.0, 1.0, frames)
    pose = np.zeros((frames, model.num_joints, 3))
    shape = np.zeros(model.num_shape)
    if model.kind == "smpl":
        pose[:, 4, 0] = pose[:, 5, 0] = 0.2 + 0.6 * s
        pose[:, 1, 0] = -(0.1 + 0.4 * s)
        pose[:, 16, 2], pose[:, 17, 2] = -1.0, 1.0
        pose[:, 18, 1] = -(0.3 + 0.8 * s)
        shape[:3] = [0.5, -0.3, 0.2]
    else:  # Anny: its joints by name (the toes kept at rest: see body/mesh.py)
        j = model.joint_names.index
        pose[:, j("lowerleg01.L"), 0] = pose[:, j("lowerleg01.R"), 0] = 0.2 + 0.6 * s
        pose[:, j("upperleg01.L"), 0] = -(0.1 + 0.4 * s)
        pose[:, j("lowerarm01.L"), 1] = -(0.3 + 0.8 * s)
        pose[:, j("wrist.R"), 2] = 0.5 * s
        shape[:] = [0.2, 0.0, 0.1, -0.1, 0.2, 0.0]
    pose[:, 0, 1] = 0.4 * s
    trans = np.stack([0.1 * s, 0.9 + 0.0 * s, 0.4 * s], axis=1)
    return pose, shape, trans


def _exact_fit(model, pose, shape, trans, fps: float = 30.0) -> tuple[BodyFit, np.ndarray]:
    """A :class:`BodyFit` that is the model's own forward on ``pose``/``shape``/``trans`` (no
    optimisation: exact), and the model's vertices ``(T, V, 3)``."""
    with torch.no_grad():
        out = model(torch.as_tensor(pose, dtype=torch.float32), torch.as_tensor(shape[None], dtype=torch.float32),
                    torch.as_tensor(trans, dtype=torch.float32))
        h36m = model.h36m17(out)
    t = len(pose)
    fit = BodyFit(kind=model.kind, joint_names=model.joint_names, parents=np.asarray(model.parents),
                  pose=pose.astype(np.float32), shape=shape.astype(np.float32), translation=trans.astype(np.float32),
                  joints=h36m.numpy(), rotations=out.rotations.numpy(), model_joints=out.joints.numpy(),
                  error=np.zeros(t, np.float32), fps=fps)
    return fit, out.vertices.numpy().astype(np.float64)


@pytest.fixture(scope="module")
def smpl_body(smpl, tmp_path_factory):
    """(body file path, the model's posed vertices) of an exact SMPL 'fit'."""
    _, model = smpl
    fit, verts = _exact_fit(model, *_motion(model))
    path = write_body_npz(tmp_path_factory.mktemp("body") / "body.npz", fit)
    return path, verts


def _skinned_from_glb(path: Path) -> tuple[np.ndarray, object]:
    """``(T, V, 3)`` the GLB's mesh posed by its own animation, as pose2rig's reader reads both."""
    anim = read_glb_animation(path)
    rig = load_gltf_rig(path)
    assert anim.rig.bone_names == rig.bone_names
    from dataclasses import replace

    return skin(replace(anim, rig=rig)), anim


# ---------------------------------------------------------------------------------------------
# the GLB


def test_smpl_glb_round_trip_poses_the_models_own_vertices(smpl, smpl_body, tmp_path):
    """The GLB's mesh, skinned by its animation as pose2rig's GLB reader reads them, is the SMPL
    model's own posed mesh (the synthetic model has no pose correctives): to 0.1 mm on every
    vertex of every frame, including the vertices with a fifth influence (about 1%, up to 9% of
    their weight: the file keeps 8 per vertex in two JOINTS_n/WEIGHTS_n sets)."""
    _, model = smpl
    path, verts = smpl_body
    out = write_body_mesh(tmp_path / "body.glb", path, model)
    posed, anim = _skinned_from_glb(out)
    assert posed.shape == (FRAMES, 6890, 3) and anim.fps == pytest.approx(30.0)
    err = np.linalg.norm(posed - verts, axis=-1)
    five = np.count_nonzero(skin_weights(model) > 0, axis=1) > 4
    assert five.any()  # the case this test is about
    assert err.max() < 1e-4, (err[:, five].max(), err.max())
    attrs = pygltflib.GLTF2().load(str(out)).meshes[0].primitives[0].attributes
    assert attrs.JOINTS_1 is not None and attrs.WEIGHTS_1 is not None and getattr(attrs, "JOINTS_2", None) is None
    rig = load_gltf_rig(out)
    assert sorted(rig.bone_names) == sorted(model.joint_names)  # the reader orders them depth first
    assert np.array_equal(rig.mesh.faces, np.asarray(model.faces, dtype=np.int32))
    # the bones move as the body file says
    body = read_body_npz(path)
    order = [rig.bone_names.index(n) for n in body.bone_names]
    np.testing.assert_allclose(anim.world_matrices()[:, order][..., :3, 3], body.bone_positions, atol=1e-5)


def test_smpl_weights_are_the_models_own(smpl):
    """SMPL's skinning weights are the model file's ``weights`` (the body's mesh is skinned as
    smplx skins it), not its largest-weight joint alone."""
    path, model = smpl
    w = skin_weights(model)
    raw = np.load(path)["weights"]
    np.testing.assert_allclose(w, raw / raw.sum(axis=1, keepdims=True), atol=1e-6)
    assert (np.count_nonzero(w > 0, axis=1) > 1).mean() > 0.05  # many vertices blend two joints or more


def test_anny_glb_skins_as_annys_own_forward(tmp_path):
    """Anny's mesh in the GLB, posed by its animation (Anny's weights summed onto the 22 driven
    joints, up to 6 per vertex, all kept), is Anny's own skinned mesh for the same
    pose and shape: within 1 mm on every vertex (the toes at rest; measured 0.05 mm)."""
    from pose2rig.body.anny import AnnyBody

    model = AnnyBody()
    fit, verts = _exact_fit(model, *_motion(model, frames=3))
    body = write_body_npz(tmp_path / "anny.npz", fit, shape_names=model.shape_names)
    out = write_body_mesh(tmp_path / "anny.glb", body, model)
    posed, _ = _skinned_from_glb(out)
    err = np.linalg.norm(posed - verts, axis=-1)
    assert err.max() < 0.001 and err.mean() < 1e-5, (err.max(), err.mean())
    rig = body_rig(read_body_npz(body), model)
    assert rig.mesh.vertices.shape == (model.num_vertices, 3) and rig.num_bones == 22


def test_a_model_that_is_not_the_bodys_is_refused(smpl, smpl_body, tmp_path):
    _, model = smpl
    path, _ = smpl_body
    body = read_body_npz(path)
    from dataclasses import replace

    moved = replace(body, bone_rest=body.bone_rest + [0.0, 0.02, 0.0])  # another model file's skeleton
    with pytest.raises(Pose2RigError, match="not the model it was fitted with"):
        write_body_mesh(tmp_path / "a.glb", moved, model)
    with pytest.raises(Pose2RigError, match="fitted with a anny model"):
        write_body_mesh(tmp_path / "b.glb", replace(body, kind="anny"), model)
    with pytest.raises(ArgumentError, match="must be a .glb file"):
        write_body_mesh(tmp_path / "c.fbx", body, model)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_blender_imports_the_body_with_its_bones_mesh_and_motion(bpy, smpl, smpl_body, tmp_path):
    """Blender's own glTF importer: an armature with the 24 SMPL bones, one mesh of 6,890
    vertices, and the bones where the body file has them on the first and the last frame."""
    _, model = smpl
    path, _ = smpl_body
    out = write_body_mesh(tmp_path / "body.glb", path, model)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(out), disable_bone_shape=True)
    scene = bpy.context.scene
    (arm,) = [o for o in scene.objects if o.type == "ARMATURE"]
    (mesh,) = [o for o in scene.objects if o.type == "MESH"]
    assert {b.name for b in arm.data.bones} == set(model.joint_names)
    assert len(mesh.data.vertices) == 6890 and len(mesh.data.polygons) == len(model.faces)
    body = read_body_npz(path)
    to_y_up = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # Blender's Z up -> Y up
    start, end = (int(round(f)) for f in arm.animation_data.action.frame_range)
    for frame, t in ((start, 0), (end, FRAMES - 1)):
        scene.frame_set(frame)
        world = np.array(arm.matrix_world)
        heads = np.array([to_y_up @ (world @ [*arm.pose.bones[n].head, 1.0])[:3] for n in body.bone_names])
        np.testing.assert_allclose(heads, body.bone_positions[t], atol=1e-4)


def _validate(path: Path) -> dict:
    node = shutil.which("node")
    tool, package = REPO / "tests" / "tools" / "validate_gltf.mjs", REPO / ".venv" / "node" / "node_modules"
    if node is None or not (package / "gltf-validator" / "package.json").is_file():
        pytest.fail("the Khronos glTF validator needs node and the npm package gltf-validator in .venv/node: "
                    "run `make install`")
    run = subprocess.run([node, str(tool), str(path)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "NODE_OPTIONS": ""})
    if run.returncode not in (0, 1):
        pytest.fail(f"the glTF validator did not run: {run.stderr.strip()}")
    return json.loads(run.stdout)


def test_khronos_validator_accepts_the_body_glb(smpl, smpl_body, tmp_path):
    _, model = smpl
    path, _ = smpl_body
    report = _validate(write_body_mesh(tmp_path / "body.glb", path, model))
    issues = report["issues"]
    said = [f"{m['code']} at {m.get('pointer')}: {m['message']}" for m in issues["messages"] if m["severity"] <= 1]
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, "\n".join(said)
    assert report["info"]["animationCount"] == 1 and report["info"]["hasSkins"]


# ---------------------------------------------------------------------------------------------
# the preview over the clip


def _clip(path: Path, frames: int = FRAMES, fps: float = 30.0) -> Path:
    """A grey clip with a dark left edge."""
    image = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
    image[:, :10] = 30
    with VideoWriter(path, fps=fps, size=SIZE) as w:
        for _ in range(frames):
            w.write(image)
    return path


def _pose_file(path: Path, joints_world: np.ndarray, *, camera: bool = True) -> Path:
    """A pose file as ``convert --npz`` writes it: camera and world joints related by the
    camera's pose (``world_rotation``, ``world_translation``), its intrinsics, timestamps."""
    t = len(joints_world)
    arrays = {"joints3d_world": joints_world.astype(np.float32), "fps": np.float64(30.0),
              "joint_names": np.asarray(H36M17.joint_names), "confidence": np.ones((t, 17), np.float32),
              "timestamps": np.arange(t) / 30.0}
    if camera:
        arrays.update({"joints3d": ((joints_world - CAM_T) @ CAM_R).astype(np.float32), "camera_matrix": K,
                       "image_size": np.asarray(SIZE, np.int64), "world_rotation": CAM_R,
                       "world_translation": CAM_T})
    write_arrays(path, arrays)
    return path


def _project(p_world: np.ndarray) -> np.ndarray:
    c = (p_world - CAM_T) @ CAM_R
    return (c @ K.T)[..., :2] / c[..., 2:3]


def _frames(path: Path) -> list[np.ndarray]:
    with open_video(path) as frames:
        return [f.image for f in frames]


@pytest.fixture(scope="module")
def fitted(smpl, smpl_body, tmp_path_factory):
    """``pose2rig fit``'s library call with mesh, video and preview on the synthetic SMPL motion."""
    smpl_path, model = smpl
    body_path, _ = smpl_body
    joints = read_body_npz(body_path).joints
    d = tmp_path_factory.mktemp("fit")
    src, video = _pose_file(d / "pose.npz", joints), _clip(d / "clip.mp4")
    out = {"output": d / "body.npz", "mesh": d / "body.glb", "preview": d / "preview.mp4"}
    fit = fit_file(src, out["output"], ConvertOptions.from_flat(smpl_model=smpl_path), fit_options=QUICK,
                   progress=False, mesh=out["mesh"], video=video, preview=out["preview"])
    return fit, joints, video, src, out


def test_fit_file_writes_the_mesh_and_the_preview_over_the_clip(fitted):
    """The preview has the clip's frames and size; where the pelvis projects, the body covers the
    clip's grey; far from the body (the left edge, the top corners) the clip shows through."""
    fit, joints, video, _, out = fitted
    assert np.linalg.norm(fit.joints - joints, axis=-1).mean() < 0.02
    assert load_gltf_rig(out["mesh"]).mesh.vertices.shape == (6890, 3)
    shown, plain = _frames(out["preview"]), _frames(video)
    assert len(shown) == FRAMES and shown[0].shape == (SIZE[1], SIZE[0], 3)
    for t in (0, FRAMES - 1):
        x, y = np.round(_project(fit.joints[t, H36M17.index("pelvis")])).astype(int)
        assert 10 < x < SIZE[0] - 10 and 10 < y < SIZE[1] - 10
        assert np.abs(shown[t][y, x].astype(int) - plain[t][y, x]).max() > 25
        for yy, xx in ((2, 2), (2, SIZE[0] - 3), (SIZE[1] // 2, 4)):
            assert np.abs(shown[t][yy, xx].astype(int) - plain[t][yy, xx]).max() <= 6


def test_cli_fit_writes_mesh_and_preview_lines(fitted, smpl, tmp_path):
    """``pose2rig fit --mesh --video --preview`` on the same files: three wrote lines."""
    _, _, video, src, _ = fitted
    smpl_path, _ = smpl
    out, mesh, preview = tmp_path / "b.npz", tmp_path / "b.glb", tmp_path / "b.mp4"
    res = CliRunner().invoke(cli, ["fit", str(src), "-o", str(out), "--smpl-model", str(smpl_path), "--mesh",
                                   str(mesh), "--video", str(video), "--preview", str(preview)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[1:] == [f"wrote mesh: {mesh}", f"wrote preview: {preview}"]
    assert len(_frames(preview)) == FRAMES


def test_without_a_camera_the_body_is_drawn_beside_the_clip(fitted, smpl, tmp_path, caplog):
    """A pose file without the camera's pose (a lift file, root motion removed): the character
    preview's picture, the clip beside the body, with a warning."""
    _, joints, video, _, out = fitted
    _, model = smpl
    src = _pose_file(tmp_path / "nocam.npz", joints, camera=False)
    body_preview(tmp_path / "beside.mp4", video, out["output"], model, pose_file=src, progress=False)
    shown = _frames(tmp_path / "beside.mp4")
    assert len(shown) == FRAMES and shown[0].shape[1] > SIZE[0] * shown[0].shape[0] / SIZE[1] + 100
    assert "drawn beside the clip" in caplog.text


@pytest.mark.parametrize("args, message", [
    (["--preview", "p.mp4"], "error: --preview draws the body over the clip: give --video too"),
    (["--video", "CLIP", "--preview", "p.glb"], "error: --preview p.glb must be a .mp4 file"),
    (["--video", "CLIP"], "error: --video is read only for --preview: give --preview too"),
    (["--mesh", "m.fbx"], "error: --mesh m.fbx must be a .glb file"),
    (["--video", "missing.mp4", "--preview", "p.mp4"], "error: expected a video file, got a path that does not exist"),
])
def test_bad_mesh_and_preview_arguments_fail_in_one_line_before_the_fit(fitted, tmp_path, monkeypatch, args,
                                                                      message):
    _, _, video, src, _ = fitted
    monkeypatch.chdir(tmp_path)
    args = [str(video) if a == "CLIP" else a for a in args]
    res = CliRunner().invoke(cli, ["fit", str(src), "-o", "b.npz", *args])
    assert res.exit_code != 0
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(message), line
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("frames, fps, within", [(5, 30.0, 5), (16, 60.0, 15)], ids=["shorter", "another_rate"])
def test_a_clip_with_another_frame_count_is_refused(fitted, smpl, tmp_path, frames, fps, within):
    """A clip that is not the pose file's (shorter, or at another frame rate: another number of
    frames over the body's time span): refused in one line, not resampled; no file."""
    _, _, _, src, out = fitted
    _, model = smpl
    other = _clip(tmp_path / "other.mp4", frames=frames, fps=fps)
    with pytest.raises(ArgumentError, match=f"has {within} frames from 0.000 to 0.250 s where the pose file has 8"):
        body_preview(tmp_path / "p.mp4", other, out["output"], model, pose_file=src, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.mp4"]


def test_a_longer_clip_shows_the_bodys_time_span(fitted, smpl, tmp_path):
    """A clip that goes on after the pose file (convert --end): the preview holds the frames the
    body covers."""
    _, _, _, src, out = fitted
    _, model = smpl
    longer = _clip(tmp_path / "longer.mp4", frames=FRAMES + 6)
    body_preview(tmp_path / "p.mp4", longer, out["output"], model, pose_file=src, progress=False)
    assert len(_frames(tmp_path / "p.mp4")) == FRAMES
