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
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from pose2rig.options import CleanOptions

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "video" / "tfjs_pose_squats.mp4"  # 65 frames at 5 fps
CLIP_FRAMES, CLIP_FPS = 65, 5.0
SCENE_FPS, SCENE_RANGE, SCENE_FRAME = 24, (10, 50), 17  # the scene each test starts from
MODES = {"thigh_l": "XYZ", "calf_l": "ZXY", "upperarm_l": "YXZ", "lowerarm_r": "AXIS_ANGLE"}
"""Rotation modes other than quaternions on some of the default character's mapped bones."""
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
                                        "pose2rig_addon/defaults.py", "pose2rig_addon/jobs.py"]


def test_zip_carries_the_libraries_defaults(tmp_path):
    """build.py writes the panel's defaults from pose2rig.options into the zip, so the add-on
    agrees with `pose2rig convert` even where the library is absent (executable mode)."""
    from pose2rig.options import HEIGHT_RANGE, ROOT_MOTIONS, SMOOTHING, ConvertOptions

    build = _build_module()
    with zipfile.ZipFile(build.build(tmp_path / "a.zip")) as z:
        source = z.read("defaults.py").decode()
    namespace: dict = {}
    exec(compile(source, "defaults.py", "exec"), namespace)  # literals only, made by build.py
    d, o = namespace["DEFAULTS"], ConvertOptions()
    switches, helps = d.pop("clean_switches"), d.pop("clean_help")
    pitch, pitch_help = d.pop("camera_pitch"), d.pop("camera_pitch_help")
    # root motion: the blender preset's (the add-on keys an armature in Blender), and its choices
    assert d == {"height": o.lift.height, "height_range": HEIGHT_RANGE, "smooth": o.clean.smooth,
                 "smoothing": SMOOTHING, "root_motion": o.replace(preset="blender").root_motion,
                 "root_motions": ROOT_MOTIONS}
    # the clean-up's switches: every boolean field of CleanOptions, in its order, with its default
    bools = [f for f in fields(CleanOptions) if isinstance(f.default, bool)]
    assert list(switches) == [f.name for f in bools]
    assert {"swaps", "fill_gaps", "outliers", "bone_lengths", "floor", "foot_lock"} <= switches.keys()
    assert switches == {f.name: getattr(o.clean, f.name) for f in bools}
    # ... and its help: the text `pose2rig convert --help` shows for its --NAME/--no-NAME flag
    # (continuation lines of the Attributes: block joined into one line)
    from pose2rig.cli import cli

    options = {p.name: p for p in cli.commands["convert"].params}
    assert list(helps) == list(switches)
    for name, text in helps.items():
        assert text and "\n" not in text and "  " not in text, name
        assert options[name].help == text, name
    assert helps["fill_gaps"].endswith("across gaps of any length.")  # two lines in the docstring
    # the camera's pitch: found from the floor unless given, and --camera-pitch's help
    assert pitch is None and o.world.camera_pitch is None
    assert pitch_help == options["camera_pitch"].help and "positive looking down" in pitch_help


def test_the_cli_spells_each_clean_switch_as_the_addon_does():
    """The add-on turns a switch off with --no-NAME, underscores as hyphens (jobs.convert_arguments);
    the CLI's generator must make exactly that flag for each switch."""
    from pose2rig.cli import cli

    build = _build_module()
    options = {p.name: p for p in cli.commands["convert"].params}
    for name, (default, _) in build.clean_switches().items():
        flag = name.replace("_", "-")
        assert options[name].is_bool_flag and options[name].default is default
        assert (options[name].opts, options[name].secondary_opts) == ([f"--{flag}"], [f"--no-{flag}"])


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
    scene.render.fps, scene.render.fps_base = SCENE_FPS, 1.0
    scene.frame_start, scene.frame_end = SCENE_RANGE
    scene.frame_set(SCENE_FRAME)
    for name in ("video", "armature", "start_frame", "end_frame", "height", "smooth", "root_motion",
                 "camera_pitch_given", "camera_pitch", "set_scene_fps", "set_frame_range"):
        scene.pose2rig_lift.property_unset(name)
    for name in type(scene.pose2rig_lift.clean).bl_rna.properties.keys():
        if name not in ("rna_type", "name"):
            scene.pose2rig_lift.clean.property_unset(name)


def _hero(rig, modes: dict[str, str] | None = None):
    """The default character's armature 'Hero' (moved, turned and scaled: the object's transform
    must survive the trip through the subprocess), active, its bones in quaternion mode but for
    ``modes``."""
    from pose2rig.io.blender import build_armature

    obj = build_armature(rig, "Hero")
    obj.location, obj.rotation_euler, obj.scale = (0.5, -1.0, 0.0), (0.0, 0.0, 0.6), (1.1, 1.1, 1.1)
    for bone, mode in (modes or {}).items():
        obj.pose.bones[bone].rotation_mode = mode
    return obj


@pytest.fixture()
def hero(bpy, addon, mpfb2_rig):
    """An empty scene at 24 fps, frames 10-50, at frame 17, with :func:`_hero` in it."""
    _clear(bpy)
    yield _hero(mpfb2_rig)
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


def _scene_keys(clip_frames: int, fps: float) -> int:
    """Keys of ``clip_frames`` video frames resampled to ``fps`` (the first frame's time to the
    last's, both included)."""
    return int(np.floor((clip_frames - 1) / CLIP_FPS * fps + 1e-6)) + 1


def _channel(mode: str) -> tuple[str, int]:
    """A rotation mode's pose-bone channel and its length."""
    return {"QUATERNION": ("rotation_quaternion", 4), "AXIS_ANGLE": ("rotation_axis_angle", 4)}.get(
        mode, ("rotation_euler", 3))


RUNS = {  # what each setting of the two scene options must give on the whole clip
    "off": dict(settings={}, frames=_scene_keys(CLIP_FRAMES, SCENE_FPS), fps=SCENE_FPS,
                frame_range=SCENE_RANGE, frame=SCENE_FRAME),
    "on": dict(settings=dict(set_scene_fps=True, set_frame_range=True, root_motion="ground"), frames=CLIP_FRAMES,
               fps=CLIP_FPS, frame_range=(1, CLIP_FRAMES), frame=1),
}
"""The "on" run also puts the root on the floor (root motion ``ground``): the Root bone carries
the travel and heading, the pelvis its height."""


def _check_animation(bpy, obj, *, frames: int, fps: float, frame_range: tuple[int, int], frame: int,
                     modes: dict[str, str] | None = None) -> dict:
    """The lift's action on ``obj``: ``frames`` keys from frame 1 on each mapped bone's own
    rotation channel (bones keep their ``modes``), and the scene at ``fps``, ``frame_range`` and
    ``frame``."""
    modes = modes or {}
    keys = _keys(bpy, obj)
    assert obj.animation_data.action.name == VIDEO.stem
    for path, (f, v) in keys.items():
        np.testing.assert_array_equal(f, np.arange(1, frames + 1), err_msg=str(path))
        assert np.all(np.isfinite(v)), path
    assert {pb.name: pb.rotation_mode for pb in obj.pose.bones if pb.rotation_mode != "QUATERNION"} == modes
    rotations = {p for p, i in keys if ".rotation_" in p}
    keyed = {p.split('"')[1]: p.rsplit(".", 1)[1] for p in rotations}
    assert len(keyed) == len(rotations) and _mapped_bones(obj) <= keyed.keys()
    for bone, channel in keyed.items():
        want, n = _channel(modes.get(bone, "QUATERNION"))
        assert channel == want, bone
        assert {i for p, i in keys if p == f'pose.bones["{bone}"].{channel}'} == set(range(n)), bone
    assert ('pose.bones["Root"].location', 0) in keys  # the root carries the motion
    scene = bpy.context.scene
    assert scene.render.fps / scene.render.fps_base == pytest.approx(fps)
    assert (scene.frame_start, scene.frame_end, scene.frame_current) == (*frame_range, frame)
    # squats: the thighs swing through a large angle
    w = np.abs(keys['pose.bones["thigh_r"].rotation_quaternion', 0][1])
    assert np.degrees(2 * np.arccos(np.clip(w.min(), 0, 1))) > 30
    return keys


def _posed(bpy, obj, frames) -> np.ndarray:
    """``(F, B, 4, 4)`` world matrices of ``obj``'s pose bones at ``frames``, as Blender plays
    the action."""
    out = []
    for f in frames:
        bpy.context.scene.frame_set(int(f))
        out.append([np.array(obj.matrix_world @ pb.matrix) for pb in obj.pose.bones])
    return np.array(out)


def _check_run(bpy, obj, run: str, modes: dict[str, str] | None = None) -> tuple[dict, np.ndarray]:
    """:func:`_check_animation` for a lift with ``RUNS[run]``'s settings; its keys and the posed
    bones at 0, 3, 6, 9 and 12 s (frames at both 5 and 24 fps)."""
    want = {k: v for k, v in RUNS[run].items() if k != "settings"}
    keys = _check_animation(bpy, obj, modes=modes, **want)
    return keys, _posed(bpy, obj, [1 + round(t * want["fps"]) for t in (0, 3, 6, 9, 12)])


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
    # the panel's defaults are the library's (pose2rig.options, through the zip's defaults.py)
    from pose2rig.options import HEIGHT_RANGE, ROOT_MOTIONS, SMOOTHING, ConvertOptions

    o = ConvertOptions()
    assert (s.height, s.smooth, s.root_motion) == (pytest.approx(o.lift.height), o.clean.smooth, o.root_motion)
    assert tuple(i.identifier for i in type(s).bl_rna.properties["root_motion"].enum_items) == ROOT_MOTIONS
    height = type(s).bl_rna.properties["height"]
    assert (height.hard_min, height.hard_max) == (pytest.approx(HEIGHT_RANGE[0]), pytest.approx(HEIGHT_RANGE[1]))
    assert tuple(i.identifier for i in type(s).bl_rna.properties["smooth"].enum_items) == SMOOTHING
    assert addon.jobs.DEFAULTS["height"] == o.lift.height
    assert (s.set_scene_fps, s.set_frame_range) == (False, False)  # as Blender's own importers
    assert (s.start_frame, s.end_frame) == (0, 0)
    assert addon.jobs.library_available()


class _Layout:
    """Stands in for Blender's UILayout in a panel's ``draw`` (only Blender's UI makes real ones):
    records what is drawn; ``open`` says whether layout panels are expanded."""

    def __init__(self, log: list, *, open: bool) -> None:
        self.log, self.open = log, open

    def prop(self, data, name, **kw) -> None:
        assert name in data.bl_rna.properties, name  # what Blender would draw as a red error
        self.log.append(("prop", data, name))

    def label(self, *, text="", **kw) -> None:
        self.log.append(("label", text))

    def column(self, **kw) -> _Layout:
        return self

    def row(self, *, heading="", **kw) -> _Layout:
        if heading:
            self.log.append(("heading", heading))
        return self

    def panel(self, idname, *, default_closed=False) -> tuple[_Layout, _Layout | None]:
        self.log.append(("panel", idname, default_closed))
        return self, (self if self.open else None)

    def progress(self, **kw) -> None:
        pass

    def operator(self, idname, **kw) -> None:
        self.log.append(("operator", idname))


def _draw_panel(bpy, *, open: bool) -> list:
    log: list = []
    stand_in = type("StandIn", (), {"layout": _Layout(log, open=open)})()
    bpy.types.VIEW3D_PT_pose2rig_lift.draw(stand_in, bpy.context)
    return log


@pytest.mark.slow
def test_panel_has_a_collapsible_clean_up_section_with_a_switch_per_clean_option(bpy, addon, hero):
    """One BoolProperty per switch of CleanOptions, with its default and the CLI's help as the
    tooltip; drawn in a closed-by-default "Clean-up" layout panel right after Smoothing, whose
    header counts the steps switched on; the operator hands them to jobs.start."""
    from pose2rig.options import attribute_docs

    s = bpy.context.scene.pose2rig_lift
    switches = [f for f in fields(CleanOptions) if isinstance(f.default, bool)]
    assert list(addon.jobs.CLEAN_SWITCHES) == [f.name for f in switches]
    docs = attribute_docs(CleanOptions)
    props = type(s.clean).bl_rna.properties
    assert type(s).bl_rna.properties["clean"].fixed_type.identifier == "POSE2RIG_PG_clean"
    for f in switches:
        prop = props[f.name]
        assert prop.type == "BOOLEAN" and prop.default is f.default and getattr(s.clean, f.name) is f.default
        assert prop.description == docs[f.name] and prop.name == f.name.replace("_", " ").title()
    assert set(props.keys()) - {"rna_type", "name"} == {f.name for f in switches}  # (every group has those two)

    # the real UILayout has the layout panels the stand-in imitates (Blender 4.1+)
    assert {"idname", "default_closed"} <= set(bpy.types.UILayout.bl_rna.functions["panel"].parameters.keys())
    closed = _draw_panel(bpy, open=False)
    drawn = [e[2] for e in closed if e[0] == "prop"]
    at = drawn.index("smooth")
    assert closed[closed.index(("prop", s, "smooth")) + 1] == ("panel", "pose2rig_clean", True)
    on = sum(f.default for f in switches)
    assert ("label", f"Clean-up ({on} of {len(switches)} steps)") in closed
    assert drawn[at + 1] == "root_motion"  # closed: no switches
    s.clean.foot_lock = s.clean.swaps = False
    opened = _draw_panel(bpy, open=True)
    assert ("label", f"Clean-up ({on - 2} of {len(switches)} steps)") in opened
    drawn = [(e[1], e[2]) for e in opened if e[0] == "prop"]
    at = drawn.index((s, "smooth"))
    assert drawn[at + 1:at + 1 + len(switches)] == [(s.clean, f.name) for f in switches]
    assert drawn[at + 1 + len(switches)] == (s, "root_motion")
    # what the button hands to jobs.start
    assert addon._options(bpy.context)["clean"] == {**addon.jobs.CLEAN_SWITCHES, "foot_lock": False, "swaps": False}


# --------------------------------------------------------------------------------------------
# the two backends on a real clip


@pytest.fixture(scope="module")
def library_runs(bpy, addon, mpfb2_rig):
    """Library mode on the whole clip with the scene options off (every bone in quaternion mode)
    and on (some bones in Euler and axis-angle ``MODES``), each checked with :func:`_check_run`;
    made once: the executable tests compare with them. ``{run: (keys, posed bones)}``."""
    out = {}
    for run, modes in (("off", None), ("on", MODES)):
        _clear(bpy)
        obj = _hero(mpfb2_rig, modes)
        t0 = time.perf_counter()
        result = _lift(bpy, addon, backend="LIBRARY", **RUNS[run]["settings"])
        print(f"library mode, scene options {run}: {time.perf_counter() - t0:.1f} s")
        assert result == {"FINISHED"}
        out[run] = _check_run(bpy, obj, run, modes)
    _clear(bpy)
    return out


@pytest.mark.slow
def test_library_mode_keys_every_frame_on_every_mapped_bone_and_changes_the_scene_only_when_asked(
        library_runs, mpfb2_rig):
    """Off: the scene keeps its 24 fps, frames 10-50 and frame 17, and the 65 frames at 5 fps
    (12.8 s) become 308 keys at 24 fps; on: one key per video frame, the scene at 5 fps, frames
    1-65. Bones in Euler and axis-angle modes keep them and are keyed on those channels. The on
    run's root motion is ground: the Root bone stays on the floor, the pelvis gets location keys,
    and every other bone is where the off run (root motion on) puts it."""
    assert RUNS["off"]["frames"] == 308
    off, on = library_runs["off"][0], library_runs["on"][0]
    assert len(off) > 4 * 16  # at least the 16 mapped bones' quaternions
    assert ('pose.bones["thigh_l"].rotation_euler', 0) in on and ('pose.bones["thigh_l"].rotation_quaternion', 0) in off
    # the same motion at both rates, at the same speed: the bones are in the same places at
    # 0, 3, 6, 9 and 12 s (not the same keys: the clean-up runs at each rate)
    heads_off, heads_on = library_runs["off"][1][..., :3, 3], library_runs["on"][1][..., :3, 3]
    root = mpfb2_rig.index("Root")
    body = [j for j in range(mpfb2_rig.num_bones) if j != root]
    print(f"largest difference in bone heads between the runs: {np.abs(heads_off - heads_on)[:, body].max():.3f} m")
    # 0.040 m while each run fitted its own floor tilt, 0.061 m since both take the camera's pitch
    # from MediaPipe's legs (1.0 degree here) and only lift the floor: the clean-up's floor and
    # foot locking still run at each rate
    assert np.abs(heads_off - heads_on)[:, body].max() < 0.075
    # ground: the Root on the floor (the object stands at z = 0, turned about z only), the pelvis moves
    assert np.abs(heads_on[:, root, 2]).max() < 1e-4 and ('pose.bones["pelvis"].location', 2) in on
    assert ('pose.bones["pelvis"].location', 2) not in off


@pytest.mark.slow
@pytest.mark.parametrize("run", ["off", "on"])
def test_executable_mode_poses_the_armature_as_the_library_mode(bpy, addon, hero, library_runs, run):
    """Same detections, same lifter: the same keys and the same posed armature, whichever
    rotation modes its bones are in (this one has ``MODES`` where the library's run had
    quaternions, and the other way round)."""
    modes = MODES if run == "off" else None
    for bone, mode in (modes or {}).items():
        hero.pose.bones[bone].rotation_mode = mode
    t0 = time.perf_counter()
    assert _lift(bpy, addon, backend="EXECUTABLE", **RUNS[run]["settings"]) == {"FINISHED"}
    print(f"executable mode, scene options {run}: {time.perf_counter() - t0:.1f} s")
    keys, posed = _check_run(bpy, hero, run, modes)
    library_keys, library_posed = library_runs[run]
    differ = {p.split('"')[1] for p, i in keys.keys() ^ library_keys.keys()}
    assert differ == set(MODES)  # only the bones in other modes have other channels
    for path in keys.keys() & library_keys.keys():  # the npz holds float32 joints
        np.testing.assert_allclose(keys[path][1], library_keys[path][1], atol=1e-3, err_msg=str(path))
    print(f"largest difference in posed bones: {np.abs(posed - library_posed).max():.2e}")
    np.testing.assert_allclose(posed, library_posed, atol=1e-4)


@pytest.mark.slow
def test_frame_range_and_resampling_to_the_scene_rate(bpy, addon, hero):
    """Clip frames 11-30 (20 frames over 3.8 s) resampled to the scene's 10 fps: 38 or 39 keys;
    the scene keeps its rate and, asked to, takes the keys' frame range."""
    scene = bpy.context.scene
    scene.render.fps = 10
    assert _lift(bpy, addon, start_frame=11, end_frame=30, set_frame_range=True, smooth="savgol") == {"FINISHED"}
    keys = _keys(bpy, hero)
    n = {len(f) for f, _ in keys.values()}
    assert len(n) == 1 and (n := n.pop()) in (38, 39)
    assert scene.render.fps / scene.render.fps_base == pytest.approx(10.0)
    assert (scene.frame_start, scene.frame_end, scene.frame_current) == (1, n, 1)


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
            n = _scene_keys(10, SCENE_FPS)  # 1.8 s at the scene's 24 fps
            assert result == {"FINISHED"} and "detect 2D" in seen and n == 44
            assert op.reports[-1][0] == {"INFO"} and f"{n} frames" in op.reports[-1][1]
            assert len(_keys(bpy, hero)[next(iter(_keys(bpy, hero)))][0]) == n
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
@pytest.mark.parametrize(
    "clean, message",
    [
        ({"foot_locking": False}, "Unknown clean-up switch(es) foot_locking; known: swaps, fill_gaps"),
        ({"smooth": "none"}, "Unknown clean-up switch(es) smooth"),  # an option, but not a switch
        ({"floor": 0}, "Clean-up switch floor must be True or False, got 0"),
        ([("floor", False)], "Clean-up switches must be a mapping of name to True/False, got list"),
    ],
)
def test_unknown_or_bad_clean_up_switches_are_lift_errors(bpy, addon, hero, clean, message):
    with pytest.raises(addon.jobs.LiftError) as err:
        addon.jobs.start(bpy.context, str(VIDEO), armature=hero, clean=clean)
    assert message in str(err.value)
    _no_new_action(bpy, hero)


SWITCHED_OFF = ("swaps", "foot_lock", "bone_lengths")


def _switch_off(bpy, names=SWITCHED_OFF) -> None:
    for name in names:
        setattr(bpy.context.scene.pose2rig_lift.clean, name, False)


@pytest.fixture()
def stub_convert(monkeypatch):
    """pose2rig.pipeline.convert replaced by a stand-in that records its options and fails with
    "stubbed conversion" (no video decoded); ``[options, ...]``."""
    import pose2rig.pipeline
    from pose2rig.errors import Pose2RigError

    seen = []

    def convert(video, outputs=None, options=None, *, progress=None):
        seen.append(options)
        raise Pose2RigError("stubbed conversion")

    monkeypatch.setattr(pose2rig.pipeline, "convert", convert)
    return seen


@pytest.mark.slow
def test_library_mode_passes_the_clean_up_switches_in_the_convert_options(bpy, addon, hero, stub_convert):
    _switch_off(bpy)
    with pytest.raises(RuntimeError, match="stubbed conversion"):
        _lift(bpy, addon, backend="LIBRARY", end_frame=5)
    [options] = stub_convert
    assert options.clean == CleanOptions(swaps=False, foot_lock=False, bone_lengths=False)
    assert (options.clean.fill_gaps, options.clean.outliers, options.clean.floor) == (True, True, True)
    _no_new_action(bpy, hero)


@pytest.mark.slow
def test_executable_mode_passes_switches_off_as_no_flags_that_the_cli_reads_as_the_library_mode(
        bpy, addon, hero, stub_convert, tmp_path, monkeypatch):
    """A stand-in pose2rig executable records its arguments: --no-swaps, --no-foot-lock and
    --no-bone-lengths, nothing for the switches left on; the real CLI reads those arguments into
    the same ConvertOptions as the library mode's."""
    fake = tmp_path / "pose2rig"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/argv.txt"\n'
                    'echo "error: stubbed executable" >&2\nexit 1\n')
    fake.chmod(0o755)
    _switch_off(bpy)
    s = bpy.context.scene.pose2rig_lift
    s.video, s.end_frame = str(VIDEO), 5
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.backend, prefs.executable = "EXECUTABLE", str(fake)
    with pytest.raises(RuntimeError, match="stubbed executable"):
        bpy.ops.pose2rig.lift_from_video("EXEC_DEFAULT")
    _no_new_action(bpy, hero)
    argv = (tmp_path / "argv.txt").read_text().splitlines()
    assert argv[:4] == ["--progress", "json", "convert", str(VIDEO)] and argv[-1] == "--quiet"
    assert [a for a in argv if a.startswith("--no-") and a != "--no-cache"] == [
        f"--no-{n.replace('_', '-')}" for n in addon.jobs.CLEAN_SWITCHES if n in SWITCHED_OFF]
    assert {"--no-swaps", "--no-foot-lock", "--no-bone-lengths"} <= set(argv)
    assert not {"--swaps", "--fill-gaps", "--no-fill-gaps", "--no-outliers", "--no-floor"} & set(argv)

    # the real CLI on those arguments (its logging set-up, which takes over stderr, left out)
    import pose2rig.cli

    monkeypatch.setattr(pose2rig.cli, "_setup_logging", lambda quiet, **kw: None)
    monkeypatch.setenv("POSE2RIG_PROGRESS", "bar")  # --progress json sets it; restored afterwards
    assert pose2rig.cli.cli.main(argv, prog_name="pose2rig", standalone_mode=False) == 1  # the stub's error
    [cli_options] = stub_convert
    assert cli_options.clean == CleanOptions(swaps=False, foot_lock=False, bone_lengths=False)

    stub_convert.clear()  # the same settings (the switches still off) in library mode
    with pytest.raises(RuntimeError, match="stubbed conversion"):
        _lift(bpy, addon, backend="LIBRARY", end_frame=5)
    [library_options] = stub_convert
    assert cli_options == library_options


@pytest.mark.slow
def test_panel_has_a_camera_pitch_found_from_the_floor_unless_given(bpy, addon, hero):
    """A switch "given" (off: the library's default, None, found from the floor) and the pitch in
    degrees (-89..89, the CLI's help as its tooltip), drawn on one row after Root Motion; the
    button hands None to jobs.start until the switch is on."""
    s = bpy.context.scene.pose2rig_lift
    props = type(s).bl_rna.properties
    assert s.camera_pitch_given is False and s.camera_pitch == 0.0
    pitch = props["camera_pitch"]
    assert (pitch.hard_min, pitch.hard_max) == (-89.0, 89.0)
    assert pitch.description == addon.jobs.CAMERA_PITCH_HELP and "positive looking down" in pitch.description
    log = _draw_panel(bpy, open=False)
    drawn = [e[2] for e in log if e[0] == "prop"]
    at = drawn.index("root_motion")
    assert drawn[at + 1:at + 3] == ["camera_pitch_given", "camera_pitch"]
    assert log[log.index(("prop", s, "root_motion")) + 1] == ("heading", "Camera Pitch")
    s.camera_pitch = 17.5
    assert addon._options(bpy.context)["camera_pitch"] is None  # not given: found from the floor
    s.camera_pitch_given = True
    assert addon._options(bpy.context)["camera_pitch"] == 17.5
    s.camera_pitch = 120.0  # Blender clamps to the property's range
    assert s.camera_pitch == 89.0


@pytest.mark.slow
@pytest.mark.parametrize("pitch", [90.0, -95.0, float("nan"), "20", True])
def test_a_camera_pitch_out_of_range_or_not_a_number_is_a_lift_error(bpy, addon, hero, pitch):
    with pytest.raises(addon.jobs.LiftError, match="Camera pitch must be a number of degrees from -89 to 89"):
        addon.jobs.start(bpy.context, str(VIDEO), armature=hero, camera_pitch=pitch)
    _no_new_action(bpy, hero)


@pytest.mark.slow
def test_the_camera_pitch_given_in_the_panel_reaches_convert_in_both_modes(
        bpy, addon, hero, stub_convert, tmp_path, monkeypatch):
    """Given (-12.5: looking up), the library mode's ConvertOptions carry it and the executable gets
    ``--camera-pitch -12.5``, which the real CLI reads into the same options; not given, both leave
    the library's None (found from the floor)."""
    import pose2rig.cli

    fake = tmp_path / "pose2rig"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/argv.txt"\n'
                    'echo "error: stubbed executable" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setattr(pose2rig.cli, "_setup_logging", lambda quiet, **kw: None)
    monkeypatch.setenv("POSE2RIG_PROGRESS", "bar")  # --progress json sets it; restored afterwards
    s = bpy.context.scene.pose2rig_lift
    prefs = bpy.context.preferences.addons[MODULE].preferences
    s.camera_pitch = -12.5
    for given, expected in ((True, -12.5), (False, None)):
        s.camera_pitch_given = given
        stub_convert.clear()
        with pytest.raises(RuntimeError, match="stubbed conversion"):
            _lift(bpy, addon, backend="LIBRARY", end_frame=5)
        [library_options] = stub_convert
        assert library_options.world.camera_pitch == expected

        prefs.backend, prefs.executable = "EXECUTABLE", str(fake)
        with pytest.raises(RuntimeError, match="stubbed executable"):
            bpy.ops.pose2rig.lift_from_video("EXEC_DEFAULT")
        argv = (tmp_path / "argv.txt").read_text().splitlines()
        if given:
            at = argv.index("--camera-pitch")
            assert float(argv[at + 1]) == -12.5
        else:
            assert "--camera-pitch" not in argv
        stub_convert.clear()
        assert pose2rig.cli.cli.main(argv, prog_name="pose2rig", standalone_mode=False) == 1  # the stub's error
        [cli_options] = stub_convert
        assert cli_options.world.camera_pitch == expected and cli_options == library_options
    _no_new_action(bpy, hero)


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
             "POSE2RIG_PG_lift", "POSE2RIG_PG_clean", "POSE2RIG_AP_preferences")
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
