"""The Blender add-on (blender_addon/): installed as an extension in headless bpy, run on a real
clip in both backends (the library in this process, the pose2rig executable in subprocesses),
cancelled, fed bad input, and unregistered.

The button's modal operator needs Blender's event loop, which headless bpy does not run; the
tests drive the same :class:`jobs.Job` the modal operator steps on its timer, either through the
operator's blocking ``execute`` (what ``bpy.ops.pose2rig.lift_from_video()`` runs from scripts
and in background mode) or step by step.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import time
import tomllib
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "video" / "tfjs_pose_squats.mp4"  # 65 frames at 5 fps
CLIP_FRAMES, CLIP_FPS = 65, 5.0
EXECUTABLE = Path(sys.executable).with_name("pose2rig")
MODULE = "bl_ext.user_default.pose2rig"


def _build_module():
    spec = importlib.util.spec_from_file_location("pose2rig_addon_build", REPO / "blender_addon" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------------------------
# the zip files (no Blender needed)


def test_extension_zip_has_the_manifest_at_its_root(tmp_path):
    build = _build_module()
    path = build.build(tmp_path / "a.zip")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
    assert {"blender_manifest.toml", "__init__.py", "jobs.py", "LICENSE"} <= set(names)
    assert not [n for n in names if "/" in n or n == "build.py" or n.endswith(".pyc")]
    assert manifest["schema_version"] == "1.0.0" and manifest["id"] == "pose2rig"
    assert manifest["type"] == "add-on" and manifest["license"] == ["SPDX:MIT"]
    assert manifest["blender_version_min"] == "4.4.0" and "files" in manifest["permissions"]
    assert build.build(tmp_path / "b.zip").read_bytes() == path.read_bytes()  # reproducible

    legacy = build.build(tmp_path / "legacy.zip", legacy=True)
    with zipfile.ZipFile(legacy) as z:
        assert sorted(z.namelist()) == ["pose2rig_addon/LICENSE", "pose2rig_addon/__init__.py",
                                        "pose2rig_addon/jobs.py"]


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def addon(bpy, tmp_path_factory):
    """The add-on installed from its zip into the user extension repository, and enabled."""
    import addon_utils

    repo = next(r for r in bpy.context.preferences.extensions.repos if r.module == "user_default")
    if not Path(repo.directory).resolve().is_relative_to(Path(tempfile.gettempdir()).resolve()):
        # never install into a real user's Blender: fail loudly instead of skipping into green
        pytest.fail(f"bpy was imported with its user folder outside the temporary folder ({repo.directory}); "
                    "import it through the conftest fixture")
    zip_path = _build_module().build(tmp_path_factory.mktemp("dist") / "pose2rig_addon.zip")
    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}
    assert addon_utils.check(MODULE) == (True, True)
    yield sys.modules[MODULE]
    addon_utils.disable(MODULE, default_set=True)
    bpy.ops.extensions.package_uninstall(repo_directory=repo.directory, pkg_id="pose2rig")


@pytest.fixture(scope="module")
def mpfb2_rig():
    """The bundled default character (the MPFB2 body on its game-engine rig), with its mesh."""
    from pose2rig.io.rigs import load_rig

    return load_rig(None)


def _clear(bpy):
    d = bpy.data
    d.batch_remove([*d.objects, *d.armatures, *d.meshes, *d.actions, *d.movieclips])
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    for name in ("video", "armature", "start_frame", "end_frame", "height", "smooth", "root_motion", "fps_mode"):
        scene.pose2rig_lift.property_unset(name)


@pytest.fixture()
def hero(bpy, addon, mpfb2_rig):
    """An empty scene at 24 fps with the default character's armature 'Hero' (moved, turned and
    scaled: the object's transform must survive the trip through the subprocess), active."""
    from pose2rig.io.blender import build_armature

    _clear(bpy)
    obj = build_armature(mpfb2_rig, "Hero")
    obj.location, obj.rotation_euler, obj.scale = (0.5, -1.0, 0.0), (0.0, 0.0, 0.6), (1.1, 1.1, 1.1)
    yield obj
    _clear(bpy)


def _lift(bpy, addon, *, backend="LIBRARY", **settings):
    """The operator's blocking path, with the panel's settings and the add-on's preferences."""
    s = bpy.context.scene.pose2rig_lift
    s.video = str(VIDEO)
    for k, v in settings.items():
        setattr(s, k, v)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.backend = backend
    prefs.executable = str(EXECUTABLE)
    return bpy.ops.pose2rig.lift_from_video("EXEC_DEFAULT")


def _keys(bpy, obj):
    """The armature's assigned action as {(data path, index): (frames, values)}."""
    from bpy_extras import anim_utils

    adt = obj.animation_data
    assert adt is not None and adt.action is not None, "no action assigned"
    assert adt.action_slot is not None and adt.action_slot == adt.action.slots[0]
    bag = anim_utils.action_get_channelbag_for_slot(adt.action, adt.action_slot)
    out = {}
    for fc in bag.fcurves:
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[fc.data_path, fc.array_index] = (co[0::2], co[1::2])
    return out


def _mapped_bones(obj) -> set[str]:
    from pose2rig.io.blender import rig_from_armature
    from pose2rig.retarget.mapping import map_rig

    rig = rig_from_armature(obj, with_mesh=False)
    m = map_rig(rig)
    return {rig.bone_names[j] for j in (*m.roles.values(), *m.spine, *m.neck)}


def _check_animation(bpy, obj, *, frames: int, fps: float) -> dict:
    keys = _keys(bpy, obj)
    assert obj.animation_data.action.name == VIDEO.stem
    for path, (f, v) in keys.items():
        np.testing.assert_array_equal(f, np.arange(1, frames + 1), err_msg=str(path))
        assert np.all(np.isfinite(v)), path
    keyed = {p.split('"')[1] for p, i in keys if p.endswith("rotation_quaternion")}
    assert _mapped_bones(obj) <= keyed
    for bone in keyed:
        assert all((f'pose.bones["{bone}"].rotation_quaternion', i) in keys for i in range(4))
        assert obj.pose.bones[bone].rotation_mode == "QUATERNION"
    assert ('pose.bones["Root"].location', 0) in keys  # the root carries the motion
    scene = bpy.context.scene
    assert scene.render.fps / scene.render.fps_base == pytest.approx(fps)
    assert (scene.frame_start, scene.frame_end) == (1, frames)
    # squats: the thighs swing through a large angle
    w = np.abs(keys['pose.bones["thigh_l"].rotation_quaternion', 0][1])
    assert np.degrees(2 * np.arccos(np.clip(w.min(), 0, 1))) > 30
    return keys


def _no_new_action(bpy, obj):
    assert len(bpy.data.actions) == 0
    assert obj is None or obj.animation_data is None or obj.animation_data.action is None


# --------------------------------------------------------------------------------------------
# registration


@pytest.mark.slow
def test_installed_extension_registers_panel_operators_and_preferences(bpy, addon):
    assert addon.__name__ == MODULE and Path(addon.__file__).parent.name == "pose2rig"
    for cls in ("VIEW3D_PT_pose2rig_lift", "POSE2RIG_OT_lift_from_video", "POSE2RIG_OT_lift_cancel"):
        assert hasattr(bpy.types, cls), cls
    panel = bpy.types.VIEW3D_PT_pose2rig_lift
    assert (panel.bl_space_type, panel.bl_region_type, panel.bl_category) == ("VIEW_3D", "UI", "pose2rig")
    prefs = bpy.context.preferences.addons[MODULE].preferences
    assert prefs.backend == "AUTO" and prefs.executable == ""
    s = bpy.context.scene.pose2rig_lift
    assert (s.height, s.smooth, s.root_motion, s.fps_mode) == (pytest.approx(1.70), "one_euro", True, "CLIP")
    assert (s.start_frame, s.end_frame) == (0, 0)
    assert addon.jobs.library_available()


# --------------------------------------------------------------------------------------------
# the two backends on a real clip


@pytest.fixture(scope="module")
def library_keys(bpy, addon, mpfb2_rig):
    """Keys made in library mode on 'Hero' (made once: the executable test compares with them)."""
    from pose2rig.io.blender import build_armature

    _clear(bpy)
    obj = build_armature(mpfb2_rig, "Hero")
    obj.location, obj.rotation_euler, obj.scale = (0.5, -1.0, 0.0), (0.0, 0.0, 0.6), (1.1, 1.1, 1.1)
    t0 = time.perf_counter()
    result = _lift(bpy, addon, backend="LIBRARY")
    print(f"library mode: {time.perf_counter() - t0:.1f} s")
    assert result == {"FINISHED"}
    keys = _check_animation(bpy, obj, frames=CLIP_FRAMES, fps=CLIP_FPS)
    _clear(bpy)
    return keys


@pytest.mark.slow
def test_library_mode_keys_every_clip_frame_on_every_mapped_bone(library_keys):
    assert len(library_keys) > 4 * 16  # at least the 16 mapped bones' quaternions


@pytest.mark.slow
def test_executable_mode_gives_the_library_modes_keys(bpy, addon, hero, library_keys):
    t0 = time.perf_counter()
    assert _lift(bpy, addon, backend="EXECUTABLE") == {"FINISHED"}
    print(f"executable mode: {time.perf_counter() - t0:.1f} s")
    keys = _check_animation(bpy, hero, frames=CLIP_FRAMES, fps=CLIP_FPS)
    assert keys.keys() == library_keys.keys()
    for path in keys:  # same detections, same lifter: same keys (the npz holds float32 joints)
        np.testing.assert_allclose(keys[path][1], library_keys[path][1], atol=1e-3, err_msg=str(path))


@pytest.mark.slow
def test_frame_range_and_resampling_to_the_scene_rate(bpy, addon, hero):
    """Clip frames 11-30 (20 frames over 3.8 s) resampled to the scene's 10 fps: 38 or 39 keys,
    and the scene keeps its rate."""
    bpy.context.scene.render.fps = 10
    assert _lift(bpy, addon, start_frame=11, end_frame=30, fps_mode="SCENE", smooth="savgol") == {"FINISHED"}
    keys = _keys(bpy, hero)
    n = {len(f) for f, _ in keys.values()}
    assert len(n) == 1 and n.pop() in (38, 39)
    assert bpy.context.scene.render.fps / bpy.context.scene.render.fps_base == pytest.approx(10.0)


class _Event:
    def __init__(self, type: str, value: str = "NOTHING") -> None:
        self.type, self.value = type, value


def _modal_stand_in(bpy):
    """The operator's own modal methods on a stand-in instance (only Blender's event loop can
    make a real one): what invoke leaves behind, minus the modal handler."""
    op = bpy.types.POSE2RIG_OT_lift_from_video

    class StandIn:
        modal, _status, _end, _finish = op.modal, op._status, op._end, op._finish

        def __init__(self) -> None:
            self.reports: list[tuple[set[str], str]] = []

        def report(self, kind, message) -> None:
            self.reports.append((kind, message))

    return StandIn()


@pytest.mark.slow
def test_modal_operator_steps_on_timer_events_passes_others_through_and_esc_cancels(bpy, addon, hero):
    context = bpy.context
    wm = context.window_manager
    for cancel in (False, True):
        op = _modal_stand_in(bpy)
        op._job = addon._job = addon.jobs.start(context, str(VIDEO), armature=hero, end_frame=10)
        op._timer = wm.event_timer_add(0.1, window=context.window)
        assert not bpy.types.POSE2RIG_OT_lift_from_video.poll(context)  # one lift at a time
        assert op.modal(context, _Event("MOUSEMOVE")) == {"PASS_THROUGH"}
        result, seen = {"PASS_THROUGH"}, set()
        while result == {"PASS_THROUGH"}:
            if cancel and op._job.done > 0:
                assert op.modal(context, _Event("ESC", "PRESS")) == {"RUNNING_MODAL"}
                assert op._job.cancelling
            time.sleep(0.02)
            result = op.modal(context, _Event("TIMER"))
            seen.add(op._job.stage)
        assert addon._job is None and bpy.types.POSE2RIG_OT_lift_from_video.poll(context)
        if cancel:
            assert result == {"CANCELLED"} and op._job.state == "CANCELLED"
            assert ({"WARNING"}, "Lift from video cancelled") in op.reports
            _no_new_action(bpy, hero)
        else:
            assert result == {"FINISHED"} and "detect 2D" in seen
            assert op.reports[-1][0] == {"INFO"} and "10 frames" in op.reports[-1][1]
            assert len(_keys(bpy, hero)[next(iter(_keys(bpy, hero)))][0]) == 10
            bpy.data.actions.remove(hero.animation_data.action)


# --------------------------------------------------------------------------------------------
# cancel and errors


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["LIBRARY", "EXECUTABLE"])
def test_cancel_stops_the_work_and_leaves_no_action(bpy, addon, hero, backend):
    job = addon.jobs.start(bpy.context, str(VIDEO), armature=hero, backend=backend, executable=str(EXECUTABLE))
    deadline = time.monotonic() + 120
    while not (job.stage == "detect 2D" and job.done > 0):
        assert not job.step(), f"ended before detection started: {job.state} {job.error}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    job.cancel()
    assert job.describe() == "Cancelling..."
    t0 = time.monotonic()
    job.wait()
    print(f"{backend}: cancelled at {job.done}/{job.total} frames in {time.monotonic() - t0:.2f} s")
    assert job.state == "CANCELLED" and job.error is None
    assert job.done < job.total == CLIP_FRAMES  # stopped before the clip's end
    assert time.monotonic() - t0 < 10
    assert not job.tmpdir.exists()
    if backend == "LIBRARY":
        assert not job._thread.is_alive()
    else:
        assert job._proc.poll() is not None
    _no_new_action(bpy, hero)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, message",
    [
        ("no_armature", "No armature to animate"),
        ("mesh_active", "is a mesh"),
        ("missing_video", "not found"),
        ("not_a_video", "Cannot read the video"),
        ("end_past_clip", "End frame 66 is past the clip's last frame (65)"),
        ("start_after_end", "Start frame 20 comes after end frame 10"),
        ("no_executable", "set the pose2rig executable in the add-on's preferences"),
    ],
)
def test_bad_requests_are_one_line_reports_and_make_nothing(bpy, addon, hero, tmp_path, case, message):
    s = bpy.context.scene.pose2rig_lift
    prefs = bpy.context.preferences.addons[MODULE].preferences
    s.video = str(VIDEO)
    obj = hero
    if case == "no_armature":
        bpy.data.objects.remove(hero)
        obj = None
    elif case == "mesh_active":
        mesh = bpy.data.objects.new("Box", bpy.data.meshes.new("Box"))
        bpy.context.collection.objects.link(mesh)
        bpy.context.view_layer.objects.active = mesh
    elif case == "missing_video":
        s.video = str(tmp_path / "missing.mp4")
    elif case == "not_a_video":
        (tmp_path / "text.mp4").write_text("not a video")
        s.video = str(tmp_path / "text.mp4")
    elif case == "end_past_clip":
        s.end_frame = CLIP_FRAMES + 1
    elif case == "start_after_end":
        s.start_frame, s.end_frame = 20, 10
    prefs.backend = "EXECUTABLE" if case == "no_executable" else "LIBRARY"
    prefs.executable = str(tmp_path / "no_such_pose2rig") if case == "no_executable" else ""
    with pytest.raises(RuntimeError) as err:
        bpy.ops.pose2rig.lift_from_video("EXEC_DEFAULT")
    text = str(err.value).strip()
    assert message in text and len(text.splitlines()) == 1, text
    _no_new_action(bpy, obj)
    assert len(bpy.data.movieclips) == 0  # the clip read for its frame rate is gone again


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["LIBRARY", "EXECUTABLE"])
def test_failure_in_the_work_is_reported_from_either_backend(bpy, addon, hero, backend):
    """An armature without human bones fails in retargeting (this process, or the subprocess);
    the library's message comes back as the report, and no action is left."""
    from pose2rig.io.blender import build_armature
    from pose2rig.testing import tpose_rig

    rig = tpose_rig()
    rig = replace(rig, bone_names=tuple(f"b{i}" for i in range(rig.num_bones)), mesh=None)
    odd = build_armature(rig, "Odd")
    with pytest.raises(RuntimeError, match=r"lacks bones for hips"):
        _lift(bpy, addon, backend=backend, armature=odd, end_frame=5)
    _no_new_action(bpy, odd)
    _no_new_action(bpy, hero)


# --------------------------------------------------------------------------------------------
# unregistering, and the legacy add-on


@pytest.mark.slow
def test_disable_unregisters_everything_and_the_legacy_addon_registers_the_same(bpy, addon, tmp_path):
    import addon_utils

    names = ("VIEW3D_PT_pose2rig_lift", "POSE2RIG_OT_lift_from_video", "POSE2RIG_OT_lift_cancel",
             "POSE2RIG_PG_lift", "POSE2RIG_AP_preferences")
    try:
        addon_utils.disable(MODULE, default_set=True)
        assert addon_utils.check(MODULE)[1] is False
        assert not [n for n in names if hasattr(bpy.types, n)]
        assert not hasattr(bpy.types.Scene, "pose2rig_lift")

        legacy = _build_module().build(tmp_path / "legacy.zip", legacy=True)
        assert bpy.ops.preferences.addon_install(filepath=str(legacy)) == {"FINISHED"}
        assert addon_utils.enable("pose2rig_addon", default_set=True) is not None
        assert all(hasattr(bpy.types, n) for n in names[:3]) and hasattr(bpy.types.Scene, "pose2rig_lift")
        addon_utils.disable("pose2rig_addon", default_set=True)
        assert not [n for n in names if hasattr(bpy.types, n)]
        folder = Path(sys.modules["pose2rig_addon"].__file__).parent
        assert folder.parent == Path(bpy.utils.user_resource("SCRIPTS", path="addons"))
        shutil.rmtree(folder)  # (preferences.addon_remove needs a UI area)
    finally:
        addon_utils.enable(MODULE, default_set=True)
    assert hasattr(bpy.types, "POSE2RIG_OT_lift_from_video")
