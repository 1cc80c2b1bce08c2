"""bench/render_eval.py: rendered clips with exact truth (the camera, the truth on the body, the cache)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from pose2rig.skeletons import H36M17
from tests._bench_module import bench_module

re = bench_module("render_eval")

CMU = sorted(re.MOCAP["cmu"].glob("*.bvh"))
SIZE = (160, 200)


@pytest.fixture(scope="module", params=["bundled", "mannequin"])
def posed(request):
    poses, ends = re.load_motion(CMU[0], frames=3)
    return re.pose_character(poses, ends, re.CHARACTERS[request.param], 1.7)


def _silhouette(posed, camera, t=0):
    r = re.Renderer(posed.animation.rig.mesh.faces, camera)
    try:
        return r.render(posed.vertices[t])
    finally:
        r.close()


def test_truth_projects_onto_the_rendered_body(posed):
    rng = np.random.default_rng(7)
    start = posed.joints[0, H36M17.index("pelvis")]
    camera, _ = re.sample_camera(rng, np.array([start[0], 0.0, start[2]]), 1.7, size=SIZE)
    camera = re.fit_in_frame(camera, posed.vertices)
    assert camera.in_frame(posed.vertices)
    image, mask = _silhouette(posed, camera)
    assert mask.sum() > 200
    near = binary_dilation(mask, iterations=2)  # the head top and nose lie on the surface
    uv = np.round(camera.project(posed.joints[0])).astype(int)
    for name in H36M17.joint_names:
        u, v = uv[H36M17.index(name)]
        assert near[v, u], f"{name} projects off the body at ({u}, {v})"
    # and it is the body, not the whole image, that the joints fall on
    assert not near[2, 2] and not near[-3, -3]


def test_head_top_and_nose_taken_from_the_head(posed):
    j = posed.joints[0]
    ix = H36M17.index
    top, nose, thorax = j[ix("head")], j[ix("neck")], j[ix("thorax")]
    assert top[1] > nose[1] > thorax[1]
    # the character stands at rest about 1.7 m tall: the head top near the top of the mesh
    assert abs(top[1] - posed.vertices[0][:, 1].max()) < 0.08


def test_convention_pitch_positive_looks_down(posed):
    """A camera pitched down from the same place sees the ankles higher in the image (the view
    turns down, the scene moves up), in the truth's projection and in the render alike; and
    ``looking_at`` puts a pitched-down camera above its aim point."""
    at = np.array([0.3, 1.2, 3.2])
    level = re.RenderCamera.at(at, yaw=0.0, pitch=0.0, hfov=60.0, size=SIZE)
    down = re.RenderCamera.at(at, yaw=0.0, pitch=20.0, hfov=60.0, size=SIZE)
    ankle = posed.joints[0, H36M17.index("left_ankle")]
    assert down.project(ankle)[1] < level.project(ankle)[1] - 20
    # the camera's forward axis points below the horizon by sin(pitch)
    assert down.rotation[2, 1] == pytest.approx(-np.sin(np.radians(20.0)))
    for cam in (level, down):  # render and truth agree on where the body's lowest point is
        _, mask = _silhouette(posed, cam)
        rows = np.flatnonzero(mask.any(axis=1))
        lowest = cam.project(posed.vertices[0])[:, 1].max()
        assert abs(rows.max() - lowest) <= 2.0, (rows.max(), lowest)
    aim = np.array([0.0, 1.0, 0.0])
    looking = re.RenderCamera.looking_at(aim, yaw=30.0, pitch=25.0, distance=4.0, hfov=50.0, size=SIZE)
    assert looking.position[1] == pytest.approx(1.0 + 4.0 * np.sin(np.radians(25.0)))
    assert np.allclose(looking.project(aim), [SIZE[0] / 2, SIZE[1] / 2])
    # yaw +90 puts the camera on the subject's left (+X)
    side = re.RenderCamera.looking_at(aim, yaw=90.0, pitch=0.0, distance=4.0, hfov=50.0, size=SIZE)
    assert side.position[0] == pytest.approx(4.0)


def test_moving_back_keeps_pitch_and_fits():
    cam = re.RenderCamera.looking_at(np.array([0.0, 0.9, 0.0]), yaw=10.0, pitch=25.0, distance=1.0, hfov=45.0,
                                     size=SIZE)
    body = np.array([[0.0, 0.0, 0.0], [0.0, 1.8, 0.0], [0.5, 1.0, 0.0], [-0.5, 1.0, 0.0]])
    assert not cam.in_frame(body)
    fitted = re.fit_in_frame(cam, body)
    assert fitted.in_frame(body)
    assert np.allclose(fitted.rotation, cam.rotation)
    assert np.allclose(fitted.project(np.array([0.0, 0.9, 0.0])), [SIZE[0] / 2, SIZE[1] / 2])


def test_cache_key_follows_mocap_character_and_seed(tmp_path: Path):
    copy = tmp_path / "same.bvh"
    shutil.copy(CMU[0], copy)
    mannequin = re.CHARACTERS["mannequin"]
    key = re.cache_key(CMU[0], None, 1.7, 5)
    assert re.cache_key(copy, None, 1.7, 5) == key  # the bytes, not the path
    assert re.cache_key(CMU[0], None, 1.7, 5) == key
    assert re.cache_key(CMU[1], None, 1.7, 5) != key
    assert re.cache_key(CMU[0], mannequin, 1.7, 5) != key
    assert re.cache_key(CMU[0], None, 1.7, 6) != key
    assert re.cache_key(CMU[0], None, 1.8, 5) != key
    copy.write_bytes(CMU[0].read_bytes() + b"\n")
    assert re.cache_key(copy, None, 1.7, 5) != key


def test_render_clip_is_cached(tmp_path: Path):
    first = re.render_clip(CMU[0], None, seed=1, size=SIZE, frames=2, cache=tmp_path, videos=None)
    assert first.rendered and first.video.is_file() and first.truth.is_file()
    again = re.render_clip(CMU[0], None, seed=1, size=SIZE, frames=2, cache=tmp_path, videos=None)
    assert not again.rendered and again.key == first.key
    other = re.render_clip(CMU[0], None, seed=2, size=SIZE, frames=2, cache=tmp_path, videos=None)
    assert other.rendered and other.key != first.key
    a = first.arrays()
    assert a["joints_world"].shape == (2, 17, 3) and a["joints_2d"].shape == (2, 17, 2)
    # camera frame = R world + t, and its projection through K is joints_2d
    cam = a["joints_world"].astype(np.float64) @ a["R"].T + a["t"]
    assert np.allclose(cam, a["joints_camera"], atol=1e-4)
    uv = cam @ a["K"].T
    assert np.allclose(uv[..., :2] / uv[..., 2:], a["joints_2d"], atol=1e-2)
    # the video shows the body where the truth says: the pelvis pixel is off the gradient
    from pose2rig.video import open_video

    with open_video(first.video) as reader:
        image = np.asarray(next(iter(reader)).image, dtype=np.int32)
    u, v = np.round(a["joints_2d"][0, H36M17.index("pelvis")]).astype(int)
    row = image[v]
    assert np.abs(row[u] - row[2]).sum() > 30


def test_score_clip_end_to_end(tmp_path: Path):
    """A tiny rendered clip through detection, ``convert`` and the three methods: every figure
    finite, on the same frames; the detections are cached beside the render; the lifter beats
    the constant-depth baseline on one of the shape metrics."""
    clip = re.render_clip(CMU[0], None, seed=3, size=(240, 320), frames=30, cache=tmp_path, videos=None)
    score = re.score_clip(clip)
    assert (tmp_path / f"{clip.key}.keypoints.npz").is_file()
    assert score["frames"] == 30 and 15 <= score["scored"] <= 30
    methods = score["methods"]
    assert set(methods) == set(re.METHODS)
    for name, figures in methods.items():
        assert set(figures) == {*re.CAMERA_METRICS, *re.WORLD_METRICS}, name
        assert all(np.isfinite(v) for v in figures.values()), (name, figures)
        assert 0.0 <= figures["pck3d"] <= 100.0
        # Procrustes is the best similarity per pose: never worse than scale alone
        assert figures["p_mpjpe"] <= figures["n_mpjpe"] + 1e-6, (name, figures)
    assert 0.0 < methods["mediapipe world"]["n_mpjpe"] < 500.0
    lifter, const = methods["lifter"], methods["constant depth"]
    assert lifter["n_mpjpe"] < const["n_mpjpe"] or lifter["p_mpjpe"] < const["p_mpjpe"], (lifter, const)
    # scored again from the caches: the same figures
    again = re.score_clip(re.render_clip(CMU[0], None, seed=3, size=(240, 320), frames=30, cache=tmp_path,
                                         videos=None))
    assert again["methods"] == methods
    table = re.score_table([score, again])
    for name in re.METHODS:
        assert f"| {name} (mean over clips) |" in table and f"| {name} (pooled frames) |" in table
    assert "nan" not in table


def test_cache_key_follows_the_window(tmp_path: Path):
    key = re.cache_key(CMU[0], None, 1.7, 5, frames=100, start=0)
    assert re.cache_key(CMU[0], None, 1.7, 5, frames=100, start=10) != key
    assert re.cache_key(CMU[0], None, 1.7, 5, frames=90, start=0) != key
    assert re.cache_key(CMU[0], None, 1.7, 5, frames=100, start=0) == key


def test_load_motion_window_is_the_slice_of_the_whole():
    whole, ends = re.load_motion(CMU[0])
    part, part_ends = re.load_motion(CMU[0], frames=7, start=5)
    assert part.num_frames == 7
    assert np.allclose(part.joints, whole.joints[5:12])
    assert np.allclose(part.timestamps, whole.timestamps[5:12])
    for k in ends:
        assert np.allclose(part_ends[k], ends[k][5:12])
    with pytest.raises(ValueError, match="window start"):
        re.load_motion(CMU[0], frames=7, start=whole.num_frames)


def test_benchmark_set_is_seeded_and_keeps_travel_within_the_bound():
    first = re.benchmark_set("cmu", 3, frames=60, max_travel=1.0, seed=4)
    assert first == re.benchmark_set("cmu", 3, frames=60, max_travel=1.0, seed=4)
    assert len(first) == 3 and len({c.bvh for c in first}) == 3
    assert {c.character for c in first} == set(re.CHARACTERS)  # alternating
    pelvis = H36M17.index("pelvis")
    for c in first:
        poses, _ = re.load_motion(c.bvh, frames=c.frames, start=c.start)
        assert poses.num_frames == 60
        assert re.travel(poses.joints[:, pelvis]) <= 1.0 + 1e-9
    assert re.benchmark_set("cmu", 3, frames=60, max_travel=1.0, seed=5) != first


def test_travel_is_the_floor_box_diagonal():
    path = np.array([[0.0, 0.9, 0.0], [3.0, 2.0, 0.0], [1.0, 0.1, 4.0]])
    assert re.travel(path) == pytest.approx(5.0)  # height ignored


def test_floor_tilt_is_the_angle_between_the_ups():
    level = np.diag([1.0, -1.0, -1.0])  # a level camera's camera -> world (y down -> up, z forward -> -z)
    truth = level.T.copy()  # world -> camera
    assert re.floor_tilt(level, truth) == pytest.approx(0.0, abs=1e-9)
    a = np.radians(20.0)
    turn = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])
    assert re.floor_tilt(turn @ level, truth) == pytest.approx(20.0)
    assert re.floor_tilt(level, (turn @ level).T) == pytest.approx(20.0)
    yaw = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    assert re.floor_tilt(yaw @ level, truth) == pytest.approx(0.0, abs=1e-9)  # a turn about up is no tilt


@pytest.mark.parametrize("pitch", [-10.0, 0.0, 25.0])
def test_body_pitch_reads_the_camera_pitch_off_straight_legs(pitch):
    from pose2rig.testing import tpose_sequence

    world = tpose_sequence(4).joints.astype(np.float64)  # standing, Y up
    for ankle in ("left_ankle", "right_ankle"):  # mid-ankles straight under the pelvis
        world[:, H36M17.index(ankle), 2] = world[:, H36M17.index("pelvis"), 2]
    camera = re.RenderCamera.looking_at(np.array([0.0, 0.9, 0.0]), yaw=30.0, pitch=pitch, distance=4.0, hfov=50.0,
                                        size=SIZE)
    assert re.body_pitch(camera.to_camera(world)) == pytest.approx(pitch, abs=1e-6)
