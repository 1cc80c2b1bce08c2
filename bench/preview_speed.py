"""Speed of the character preview against a bare pyrender loop that draws the same mesh.

On one clip (default the demo's, ``samples/sports2d_demo.mp4``, converted once onto the bundled
character as ``make demo`` does) at the demo's panel size (540 x 720), interleaved in one run
(bare, render, [render before], preview, [preview before]; repeated):

    bare            one pyrender OffscreenRenderer and the preview's scene (checkered floor,
                    ambient and directional light, the follow camera's pose of each frame), the
                    character's mesh made once (``Mesh.from_trimesh``); each frame only writes the
                    frame's skinned positions and normals, computed before the loop, into the
                    mesh's vertex buffer (``glBufferSubData``: pyrender has no call of its own to
                    change a mesh) and renders, colour read back
    render          ``CharacterRenderer.render`` over every frame of the animation (skinning,
                    normals, upload, render, BGR)
    preview         ``render_character_preview`` over the clip as convert runs it (decoding,
                    composition beside the clip and H.264 encoding included), frames per second of
                    wall time
    ... before      the same two with ``pose2rig/render_character.py`` of git revision REV
                    (``--before REV``; the rest of pose2rig is this tree's)

Medians over the repeats; ratios are of frames per second (preview / bare). It also prints the
largest pixel difference between the bare loop's frames (trimesh's vertex normals) and the
renderer's, over every fifth frame of the first repeat.

Usage:
    .venv/bin/python bench/preview_speed.py [--clip samples/sports2d_demo.mp4] [--repeats 3] \\
        [--before 2a6270c] [--seconds S]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
PANEL = (540, 720)
KEEP = 5  # every KEEP-th frame of the first repeat is kept for the pixel comparison


def _module_at(rev: str, tmp: Path) -> ModuleType:
    """``pose2rig/render_character.py`` of git revision ``rev``, imported as a module of its own."""
    src = subprocess.run(["git", "show", f"{rev}:pose2rig/render_character.py"], check=True,
                         capture_output=True, text=True).stdout
    path = tmp / "render_character_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("render_character_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Bare:
    """The bare pyrender loop: the preview's scene, the mesh made once, positions written per frame."""

    def __init__(self, animation, poses: list[tuple[np.ndarray, np.ndarray]], buffers: list[np.ndarray]) -> None:
        import pyrender
        import trimesh
        from OpenGL import GL

        from pose2rig.render_character import _checker_floor

        self.gl, self.pyrender = GL, pyrender
        mesh = animation.rig.mesh
        rest = mesh.vertices.astype(np.float64)
        roots = animation.root_positions.mean(axis=1)
        self.scene = pyrender.Scene(bg_color=[0.93, 0.94, 0.96, 1.0], ambient_light=[0.35, 0.35, 0.35])
        floor = _checker_floor(np.array([roots[:, 0].mean(), 0.0, roots[:, 2].mean()]), float(rest[:, 1].min()) - 1e-3,
                               size=max(12.0, 3 * float(np.ptp(roots[:, [0, 2]], axis=0).max())))
        self.scene.add(pyrender.Mesh.from_trimesh(floor, smooth=False))
        material = pyrender.MetallicRoughnessMaterial(baseColorFactor=[0.72, 0.55, 0.45, 1.0], metallicFactor=0.0,
                                                      roughnessFactor=0.7)
        body = pyrender.Mesh.from_trimesh(trimesh.Trimesh(rest, mesh.faces, process=False), material=material,
                                          smooth=True)
        self.primitive = body.primitives[0]
        self.scene.add(body)
        self.cam = self.scene.add(pyrender.PerspectiveCamera(yfov=np.radians(40.0), aspectRatio=PANEL[0] / PANEL[1]))
        self.light = self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0))
        self.renderer = pyrender.OffscreenRenderer(*PANEL)
        self.renderer.render(self.scene)  # the mesh goes to the GPU
        self.poses, self.buffers = poses, buffers

    def render(self, t: int) -> np.ndarray:
        gl = self.gl
        self.renderer._platform.make_current()
        gl.glBindBuffer(gl.GL_ARRAY_BUFFER, self.primitive._buffers[0])
        gl.glBufferSubData(gl.GL_ARRAY_BUFFER, 0, self.buffers[t].nbytes, self.buffers[t])
        self.scene.set_pose(self.cam, self.poses[t][0])
        self.scene.set_pose(self.light, self.poses[t][1])
        color, _ = self.renderer.render(self.scene)
        return color

    def close(self) -> None:
        self.renderer.delete()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=Path("samples/sports2d_demo.mp4"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--before", metavar="REV", help="also time render_character.py of this git revision")
    ap.add_argument("--seconds", type=float, default=None,
                    help="time only the clip's first SECONDS (the render loops: the animation's frames in them)")
    args = ap.parse_args()

    import trimesh
    from OpenGL import GL

    from pose2rig.options import Outputs
    from pose2rig.pipeline import convert
    from pose2rig.render_character import CharacterRenderer
    from pose2rig.retarget.lbs import skin_frame
    from pose2rig.video import open_video

    tmp = Path(tempfile.mkdtemp())
    modules = {"": sys.modules["pose2rig.render_character"]}
    if args.before:
        modules[" before"] = _module_at(args.before, tmp)
    t0 = time.perf_counter()
    animation = convert(args.clip, Outputs(glb=tmp / "c.glb"), progress=False).animation
    assert animation is not None
    n = animation.num_frames
    print(f"# converted {args.clip} in {time.perf_counter() - t0:.1f} s: {n} frames, mesh "
          f"{len(animation.rig.mesh.vertices)} vertices, {len(animation.rig.mesh.faces)} faces")

    if args.seconds is not None:
        n = min(n, int(round(args.seconds * animation.fps)))

    # the preview's camera and light of every frame (its render skipped), and every frame's skinned
    # mesh with trimesh's normals
    probe = CharacterRenderer(animation, size=PANEL)
    probe.renderer.render = lambda scene: (np.zeros((1, 1, 3), np.uint8), None)
    poses = []
    for t in range(n):
        probe.render(t)
        poses.append((probe.scene.get_pose(probe.cam_node), probe.scene.get_pose(probe.light_node)))
    probe.renderer._platform.make_current()
    gl_info = {k: GL.glGetString(getattr(GL, f"GL_{k}")).decode() for k in ("VENDOR", "RENDERER", "VERSION")}
    probe.close()
    skinning = animation.skinning_matrices()
    buffers = []
    for t in range(n):
        tm = trimesh.Trimesh(skin_frame(animation.rig.mesh, skinning[t]), animation.rig.mesh.faces, process=False)
        buffers.append(np.ascontiguousarray(np.hstack([tm.vertices, tm.vertex_normals]), dtype=np.float32))
    print(f"# PYOPENGL_PLATFORM={os.environ['PYOPENGL_PLATFORM']}; {gl_info['VENDOR']}, {gl_info['RENDERER']}, "
          f"OpenGL {gl_info['VERSION']}; LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS', 'unset')}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")

    with open_video(args.clip, end=args.seconds) as frames:
        clip_frames = len(frames)
    fps: dict[str, list[float]] = {"bare": []}
    for name in modules:
        fps[f"render{name}"] = []
    for name in modules:
        fps[f"preview{name}"] = []
    # one renderer at a time: pyrender's EGL platform terminates the process's EGL display when a
    # renderer is deleted, which ends every other renderer's context too
    kept: dict[str, dict[int, np.ndarray]] = {}
    makers = {"bare": lambda: Bare(animation, poses, buffers)}
    for name, module in modules.items():
        makers[f"render{name}"] = lambda module=module: module.CharacterRenderer(animation, size=PANEL)
    for r in range(args.repeats):
        for k, make in makers.items():
            loop = make()
            try:
                loop.render(0)
                t0 = time.perf_counter()
                for t in range(n):
                    image = loop.render(t)
                    if r == 0 and t % KEEP == 0:
                        kept.setdefault(k, {})[t] = image
                fps[k].append(n / (time.perf_counter() - t0))
            finally:
                loop.close()
        for name, module in modules.items():
            t0 = time.perf_counter()
            with open_video(args.clip, end=args.seconds) as frames:
                module.render_character_preview(tmp / "p.mp4", animation, frames=frames, progress=False)
            fps[f"preview{name}"].append(clip_frames / (time.perf_counter() - t0))
        print(f"# repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in fps.items()), flush=True)
    d = np.stack([np.abs(kept["render"][t][..., ::-1].astype(np.int16) - kept["bare"][t]) for t in kept["bare"]])
    diff_max, diff_999 = int(d.max()), float(np.percentile(d, 99.9))

    bare_fps = statistics.median(fps["bare"])
    print(f"\nPixel difference, renderer vs bare loop (trimesh normals), every {KEEP}th of {n} frames: max {diff_max}, "
          f"99.9th percentile {diff_999}")
    print(f"\n| loop | frames/s (median of {args.repeats}) | ratio to bare |\n| --- | ---: | ---: |")
    for k, v in fps.items():
        med = statistics.median(v)
        print(f"| {k} | {med:.1f} | {med / bare_fps:.2f} |")


if __name__ == "__main__":
    main()
