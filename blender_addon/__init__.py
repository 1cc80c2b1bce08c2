"""pose2rig for Blender: "Lift from video" animates an armature from a video of a person.

Only UI lives here (settings, preferences, operators, the panel); the work is in
:mod:`.jobs`, which hands it to the pose2rig library or to a ``pose2rig`` executable.

Installs as an extension (``blender_manifest.toml``; Blender 4.4 and newer) or, for older
setups, as a legacy add-on (``bl_info`` below; the add-on's folder must not be named
``pose2rig``, which would hide the library: ``blender_addon/build.py --legacy`` names it
``pose2rig_addon``).

From a script (blocking; also what the operator does in background mode)::

    bpy.ops.pose2rig.lift_from_video()          # with the scene's "Lift from video" settings
    # or, without the UI's settings:
    from bl_ext.user_default.pose2rig import jobs
    job = jobs.lift_from_video(bpy.context, "/path/clip.mp4", armature=obj, height=1.8)
"""

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

if "jobs" in locals():  # F8 / reload scripts: this module's globals survive, reload its helper
    import importlib

    importlib.reload(jobs)  # noqa: F821  # bound by the first load's import below
else:
    from . import jobs

bl_info = {
    "name": "pose2rig: Lift from video",
    "author": "pose2rig contributors",
    "version": (0, 1, 0),
    "blender": (4, 4, 0),
    "location": "3D View > Sidebar > pose2rig",
    "description": "Animate an armature from a video of a person (pose2rig)",
    "category": "Animation",
}


_job = None  # the running jobs.Job, shown in the panel; one at a time


def _prefs(context):
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


def _armature_poll(self, obj):
    return obj.type == "ARMATURE"


class POSE2RIG_PG_clean(bpy.types.PropertyGroup):
    """The clean-up's switches: one per boolean field of pose2rig's ``CleanOptions``, with its
    default and help (``jobs.CLEAN_SWITCHES``, from the zip's ``defaults.py``)."""

    __annotations__ = {  # Blender reads a property group's properties from its annotations
        name: BoolProperty(name=name.replace("_", " ").title(), default=default, description=jobs.CLEAN_HELP[name])
        for name, default in jobs.CLEAN_SWITCHES.items()
    }


class POSE2RIG_PG_lift(bpy.types.PropertyGroup):
    """The panel's settings, stored per scene."""

    video: StringProperty(name="Video", description="The video of one person to lift", subtype="FILE_PATH")
    armature: PointerProperty(
        name="Armature", type=bpy.types.Object, poll=_armature_poll,
        description="The armature to animate; empty: the active object",
    )
    start_frame: IntProperty(
        name="Start", min=0, default=0, description="First frame of the clip to use (1 = its first; 0 = from its start)"
    )
    end_frame: IntProperty(
        name="End", min=0, default=0, description="Last frame of the clip to use (0 = to its end)"
    )
    height: FloatProperty(
        name="Subject Height", min=jobs.DEFAULTS["height_range"][0], max=jobs.DEFAULTS["height_range"][1],
        default=jobs.DEFAULTS["height"], precision=2, step=1,
        description="The person's standing height in metres; sets the motion's scale",
    )
    smooth: EnumProperty(
        name="Smoothing",
        items=(
            ("one_euro", "One-Euro", "Adaptive low-pass filter: steady when still, little lag on fast moves"),
            ("savgol", "Savitzky-Golay", "Polynomial smoothing over a fixed window"),
            ("none", "None", "Raw per-frame poses"),
        ),
        default=jobs.DEFAULTS["smooth"], description="Temporal filter against jitter",
    )
    clean: PointerProperty(name="Clean-up", type=POSE2RIG_PG_clean, description="The clean-up steps to run")
    root_motion: EnumProperty(
        name="Root Motion",
        items=tuple((m, m.capitalize(), jobs.ROOT_MOTION_HELP[m]) for m in jobs.ROOT_MOTIONS),
        default=jobs.DEFAULTS["root_motion"],
        description="Where the person's travel goes: on the root bones, on a root bone on the floor, or nowhere",
    )
    # The library's camera_pitch is a number or None: a switch "given" and the number in degrees
    camera_pitch_given: BoolProperty(
        name="Give Camera Pitch", default=jobs.DEFAULTS["camera_pitch"] is not None,
        description="Give the camera's pitch below; off: found from the video (MediaPipe's 3D legs)",
    )
    camera_pitch: FloatProperty(
        name="Camera Pitch", min=-jobs.CAMERA_PITCH_LIMIT, max=jobs.CAMERA_PITCH_LIMIT,
        default=jobs.DEFAULTS["camera_pitch"] or 0.0, precision=1, step=100, description=jobs.CAMERA_PITCH_HELP,
    )
    # Scene changes are asked for, as in Blender's own importers
    set_scene_fps: BoolProperty(
        name="Set Scene Frame Rate", default=False,
        description="One key per video frame and the scene takes the clip's frame rate; "
                    "off: the motion is resampled to the scene's frame rate",
    )
    set_frame_range: BoolProperty(
        name="Set Scene Frame Range", default=False,
        description="Set the scene's start and end frames to the animation's",
    )


class POSE2RIG_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    backend: EnumProperty(
        name="Run pose2rig",
        items=(
            ("AUTO", "Automatic", "The library when Blender's Python can import it, else the executable"),
            ("LIBRARY", "Library", "Import pose2rig in Blender's own Python (a background thread)"),
            ("EXECUTABLE", "Executable", "Run the pose2rig command in a subprocess"),
        ),
        default="AUTO",
    )
    executable: StringProperty(
        name="pose2rig Executable", subtype="FILE_PATH",
        description="The pose2rig command (empty: the one on PATH); used when the library is not importable",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "backend")
        layout.prop(self, "executable")
        col = layout.column(align=True)
        col.label(text="Library: " + ("importable" if jobs.library_available() else "not importable"),
                  icon="CHECKMARK" if jobs.library_available() else "X")
        exe = jobs.find_executable(self.executable)
        col.label(text=f"Executable: {exe or 'not found'}", icon="CHECKMARK" if exe else "X")


def _options(context):
    s = context.scene.pose2rig_lift
    prefs = _prefs(context)
    return dict(
        armature=s.armature, start_frame=s.start_frame, end_frame=s.end_frame, height=s.height,
        smooth=s.smooth, root_motion=s.root_motion, set_scene_fps=s.set_scene_fps,
        set_frame_range=s.set_frame_range, clean={name: getattr(s.clean, name) for name in jobs.CLEAN_SWITCHES},
        camera_pitch=s.camera_pitch if s.camera_pitch_given else None,
        backend=prefs.backend if prefs else "AUTO", executable=prefs.executable if prefs else "",
    )


def _redraw(context):
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class POSE2RIG_OT_lift_from_video(bpy.types.Operator):
    """Detect the person in the video, lift the pose to 3D and animate the armature (a new action)"""

    bl_idname = "pose2rig.lift_from_video"
    bl_label = "Lift from Video"
    bl_options = {"REGISTER", "UNDO"}

    _timer = None
    _job = None

    @classmethod
    def poll(cls, context):
        if _job is not None:
            cls.poll_message_set("A lift is already running")
            return False
        return context.scene is not None

    def _start(self, context):
        try:
            return jobs.start(context, context.scene.pose2rig_lift.video, **_options(context))
        except jobs.LiftError as e:
            self.report({"ERROR"}, str(e))
            return None

    def _finish(self, job):
        for w in job.warnings[-3:]:
            self.report({"WARNING"}, w)
        if job.state == "FINISHED":
            action = job.action
            self.report({"INFO"}, f"Animated {job.request.armature!r}: action {action.name!r}, "
                                  f"{int(action.frame_range[1] - action.frame_range[0]) + 1} frames")
            return {"FINISHED"}
        if job.state == "CANCELLED":
            self.report({"WARNING"}, "Lift from video cancelled")
        else:
            self.report({"ERROR"}, job.error or "Lift from video failed")
        return {"CANCELLED"}

    def execute(self, context):
        # Blocking: for scripts and background mode (no event loop to run a modal operator).
        job = self._start(context)
        return {"CANCELLED"} if job is None else self._finish(job.wait())

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        global _job
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        _job = self._job = job
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        self._status(context)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type in {"ESC", "RIGHTMOUSE"} and event.value == "PRESS":
            job.cancel()
            self._status(context)
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}  # the rest of the UI keeps working
        if not job.step():
            self._status(context)
            return {"PASS_THROUGH"}
        self._end(context)
        return self._finish(job)

    def cancel(self, context):
        # Blender ends the operator (a file is loaded, Blender quits): stop the work and wait.
        self._job.cancel()
        self._job.wait()
        self._end(context)

    def _status(self, context):
        if context.workspace is not None:
            context.workspace.status_text_set(f"pose2rig: {self._job.describe()}   (Esc or right-click: cancel)")
        _redraw(context)

    def _end(self, context):
        global _job
        _job = None
        context.window_manager.event_timer_remove(self._timer)
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        _redraw(context)


class POSE2RIG_OT_lift_cancel(bpy.types.Operator):
    """Stop the running lift; the armature keeps its animation"""

    bl_idname = "pose2rig.lift_cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return _job is not None and _job.running

    def execute(self, context):
        _job.cancel()
        return {"FINISHED"}


class VIEW3D_PT_pose2rig_lift(bpy.types.Panel):
    bl_label = "Lift from Video"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "pose2rig"

    def draw(self, context):
        s = context.scene.pose2rig_lift
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.prop(s, "video")
        layout.prop(s, "armature")
        if s.armature is None:
            obj = context.active_object
            ok = obj is not None and obj.type == "ARMATURE"
            layout.label(text=f"Active: {obj.name}" if ok else "No armature active",
                         icon="ARMATURE_DATA" if ok else "ERROR")
        col = layout.column(align=True)
        col.prop(s, "start_frame", text="Clip Frames Start")
        col.prop(s, "end_frame", text="End")
        layout.prop(s, "height")
        layout.prop(s, "smooth")
        header, body = layout.panel("pose2rig_clean", default_closed=True)
        on = sum(bool(getattr(s.clean, name)) for name in jobs.CLEAN_SWITCHES)
        header.label(text=f"Clean-up ({on} of {len(jobs.CLEAN_SWITCHES)} steps)")
        if body is not None:
            col = body.column(heading="Steps", align=True)
            for name in jobs.CLEAN_SWITCHES:
                col.prop(s.clean, name)
        layout.prop(s, "root_motion")
        row = layout.row(heading="Camera Pitch")
        row.prop(s, "camera_pitch_given", text="")
        sub = row.row()
        sub.active = s.camera_pitch_given
        sub.prop(s, "camera_pitch", text="Given (degrees down)" if s.camera_pitch_given else "From the video")
        layout.prop(s, "set_scene_fps")
        layout.prop(s, "set_frame_range")
        job = _job
        if job is not None:
            layout.progress(factor=job.fraction, type="BAR", text=job.describe())
            layout.operator("pose2rig.lift_cancel", icon="CANCEL")
        else:
            layout.operator("pose2rig.lift_from_video", icon="ARMATURE_DATA")


classes = (
    POSE2RIG_PG_clean,
    POSE2RIG_PG_lift,
    POSE2RIG_AP_preferences,
    POSE2RIG_OT_lift_from_video,
    POSE2RIG_OT_lift_cancel,
    VIEW3D_PT_pose2rig_lift,
)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.pose2rig_lift = PointerProperty(type=POSE2RIG_PG_lift)


def unregister():
    global _job
    if _job is not None:
        _job.cancel()
        _job.wait()
        _job = None
    del bpy.types.Scene.pose2rig_lift
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
