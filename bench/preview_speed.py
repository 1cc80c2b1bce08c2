"""Speed of the character preview against a bare pyrender loop that draws the same mesh.

On one clip (default the demo's, ``samples/sports2d_demo.mp4``, converted once onto the bundled
character as ``make demo`` does) at the demo's panel size (540 x 720), interleaved in one run
(bare, render, [render before], preview, [preview before]; repeated):

    bare            one pyrender OffscreenRenderer and the preview's scene (checkered floor,
                    ambient and directional light, the follow camera's pose of each frame), the
                    character's mesh made once (``Mesh.from_trimesh``); each frame only writes the
                    frame's skinned positions and normals, computed before the loop, into the
                    mesh's vertex buffer (``glBufferSubData``: pyrender has no call of its own to
                    change a mesh) and renders, colour read back; pyrender's 4x multisampling
                    (the issue's reference)
    bare body msaaN the same loop with the renderer's own settings: no floor mesh, the body alone
                    over a transparent background (RGBA read back), N samples a pixel
    render          ``CharacterRenderer.render`` over every frame of the animation (skinning,
                    normals, upload, render, the 2D floor, compositing, BGR), default settings
    render X        the same with other settings: ``gl floor msaa4`` is the previous path (GL
                    draws the floor, 4x), ``flat floor msaaN`` the 2D floor with N samples
    preview         ``render_character_preview`` over the clip as convert runs it (decoding,
                    composition beside the clip and H.264 encoding included), frames per second of
                    wall time
    ... before      the same two with ``pose2rig/render_character.py`` of git revision REV
                    (``--before REV``; the rest of pose2rig is this tree's)

Medians over the repeats; ratios are of frames per second (preview / bare). It also prints, over
every fifth frame of the first repeat, how far each render variant's frames are from the previous
path's (GL floor, 4x): mean absolute difference (grey levels, all channels) and its 99th
percentile; ``--save DIR`` writes frame 0 of each variant and a 3x crop of the body's edges as PNG.

Usage:
    .venv/bin/python bench/preview_speed.py [--clip samples/sports2d_demo.mp4] [--repeats 3] \\
        [--before 2a6270c] [--seconds S] [--save DIR]
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

    def __init__(self, animation, poses: list[tuple[np.ndarray, np.ndarray]], buffers: list[np.ndarray], *,
                 floor: bool = True, msaa: int = 4) -> None:
        import pyrender
        import trimesh
        from OpenGL import GL

        from pose2rig.render_character import _checker_floor, _set_msaa_samples

        self.gl, self.pyrender = GL, pyrender
        mesh = animation.rig.mesh
        rest = mesh.vertices.astype(np.float64)
        roots = animation.root_positions.mean(axis=1)
        self.scene = pyrender.Scene(bg_color=[0.93, 0.94, 0.96, 1.0] if floor else [0.0] * 4,
                                    ambient_light=[0.35, 0.35, 0.35])
        self.flags = pyrender.RenderFlags.NONE if floor else pyrender.RenderFlags.RGBA
        if floor:
            mesh_floor = _checker_floor(np.array([roots[:, 0].mean(), 0.0, roots[:, 2].mean()]),
                                        float(rest[:, 1].min()) - 1e-3,
                                        size=max(12.0, 3 * float(np.ptp(roots[:, [0, 2]], axis=0).max())))
            self.scene.add(pyrender.Mesh.from_trimesh(mesh_floor, smooth=False))
        material = pyrender.MetallicRoughnessMaterial(baseColorFactor=[0.72, 0.55, 0.45, 1.0], metallicFactor=0.0,
                                                      roughnessFactor=0.7)
        body = pyrender.Mesh.from_trimesh(trimesh.Trimesh(rest, mesh.faces, process=False), material=material,
                                          smooth=True)
        self.primitive = body.primitives[0]
        self.scene.add(body)
        self.cam = self.scene.add(pyrender.PerspectiveCamera(yfov=np.radians(40.0), aspectRatio=PANEL[0] / PANEL[1]))
        self.light = self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0))
        self.renderer = pyrender.OffscreenRenderer(*PANEL)
        if msaa != 4:
            _set_msaa_samples(self.renderer, msaa)
        self.renderer.render(self.scene, flags=self.flags)  # the mesh goes to the GPU
        self.poses, self.buffers = poses, buffers

    def render(self, t: int) -> np.ndarray:
        gl = self.gl
        self.renderer._platform.make_current()
        gl.glBindBuffer(gl.GL_ARRAY_BUFFER, self.primitive._buffers[0])
        gl.glBufferSubData(gl.GL_ARRAY_BUFFER, 0, self.buffers[t].nbytes, self.buffers[t])
        self.scene.set_pose(self.cam, self.poses[t][0])
        self.scene.set_pose(self.light, self.poses[t][1])
        color, _ = self.renderer.render(self.scene, flags=self.flags)
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
    ap.add_argument("--save", type=Path, help="write frame 0 of each render variant and crops of it here (PNG)")
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
    probe = CharacterRenderer(animation, size=PANEL, flat_floor=False)
    poses = []
    for t in range(n):
        probe._place_camera(t)
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
    import inspect

    msaa = inspect.signature(CharacterRenderer).parameters["msaa"].default
    # one renderer at a time: pyrender's EGL platform terminates the process's EGL display when a
    # renderer is deleted, which ends every other renderer's context too
    kept: dict[str, dict[int, np.ndarray]] = {}
    makers = {"bare": lambda: Bare(animation, poses, buffers),
              f"bare body msaa{msaa}": lambda: Bare(animation, poses, buffers, floor=False, msaa=msaa)}
    for name, module in modules.items():
        makers[f"render{name}"] = lambda module=module: module.CharacterRenderer(animation, size=PANEL)
    variants = {"gl floor msaa4": dict(flat_floor=False, msaa=4), "flat floor msaa4": dict(msaa=4),
                "flat floor msaa0": dict(msaa=0), "gl floor msaa0": dict(flat_floor=False, msaa=0)}
    variants.pop(f"flat floor msaa{msaa}", None)  # that is "render"
    for k, kw in variants.items():
        makers[f"render {k}"] = lambda kw=kw: CharacterRenderer(animation, size=PANEL, **kw)
    fps: dict[str, list[float]] = {k: [] for k in makers}
    for name in modules:
        fps[f"preview{name}"] = []
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
    ref = kept["render gl floor msaa4"]
    print(f"\nPixel difference from the previous path (GL floor, 4x), every {KEEP}th of {n} frames:")
    for k in makers:
        if k.startswith("render") and k != "render gl floor msaa4":
            d = np.stack([np.abs(kept[k][t].astype(np.int16) - ref[t]) for t in ref])
            print(f"  {k}: mean {d.mean():.3f}, 99th percentile {np.percentile(d, 99):.0f}, max {d.max()}")
    if args.save:
        import cv2

        args.save.mkdir(parents=True, exist_ok=True)
        for k in makers:
            if k.startswith("render"):
                image = kept[k][0]
                cv2.imwrite(str(args.save / f"{k.replace(' ', '_')}.png"), image)
                crop = image[200:320, 200:340]  # the body's middle: arm and torso edges
                cv2.imwrite(str(args.save / f"{k.replace(' ', '_')}_crop.png"),
                            cv2.resize(crop, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST))

    bare_fps = statistics.median(fps["bare"])
    print(f"\n| loop | frames/s (median of {args.repeats}) | ratio to bare |\n| --- | ---: | ---: |")
    for k, v in fps.items():
        med = statistics.median(v)
        print(f"| {k} | {med:.1f} | {med / bare_fps:.2f} |")


if __name__ == "__main__":
    main()
