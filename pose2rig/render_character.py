"""Previews of the user's character: the skinned mesh (linear blend skinning) rendered offscreen
with pyrender on EGL, beside the source video.

Convention:
    - The camera looks at the character from the front and a little to its right and above
      (azimuth 25 degrees, elevation 12 degrees), from a distance that fits the character's rest
      height, and follows its middle (smoothed over a second, never more than a tenth of its
      height behind: :func:`pose2rig.render.follow_path`), so it never leaves the frame, not
      even where a long detection gap's held pose jumps to the next seen one.
    - A checkered floor at the lowest rest-pose vertex shows the travel. It is drawn in 2D under
      the body, which pyrender renders alone (:class:`_FlatFloor`; no depth test between them: the
      character stands on or above the floor).
    - Output frames are BGR uint8 (OpenCV's order), like every other pose2rig image.
    - :func:`render_character_overlay` draws the character over the clip instead, through the
      clip's own camera (its intrinsics and its pose in the world, OpenCV axes): no floor, no
      follow camera.
    - The mesh is drawn with smooth shading: each vertex's normal is the mean of its faces' unit
      normals weighted by the face's corner angle at the vertex (trimesh's ``vertex_normals``).
    - The character's mesh goes to the GPU once; each frame rewrites its vertex buffer in place
      (:class:`_PosedMesh`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.extras import require
from pose2rig.progress import Progress, progress_bar
from pose2rig.render import downscale_interpolation, follow_path
from pose2rig.retarget.lbs import skin_frame
from pose2rig.rig import RigAnimation, SkinnedMesh

if TYPE_CHECKING:
    from pose2rig.video import Frame

__all__ = ["CharacterRenderer", "render_character_overlay", "render_character_preview"]

log = logging.getLogger(__name__)


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world pose (OpenGL: the camera looks down its -Z, Y up)."""
    z = eye - target
    z /= np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
    return pose


def _checker_floor(center: np.ndarray, y: float, size: float = 12.0, tiles: int = 24):
    import trimesh

    step = size / tiles
    verts: list[list[float]] = []
    faces: list[list[int]] = []
    colors: list[list[int]] = []
    for i in range(tiles):
        for k in range(tiles):
            x0, z0 = center[0] - size / 2 + i * step, center[2] - size / 2 + k * step
            n = len(verts)
            verts += [[x0, y, z0], [x0 + step, y, z0], [x0 + step, y, z0 + step], [x0, y, z0 + step]]
            faces += [[n, n + 2, n + 1], [n, n + 3, n + 2]]
            c = [200, 200, 205, 255] if (i + k) % 2 else [150, 150, 160, 255]
            colors += [c] * 4
    return trimesh.Trimesh(np.array(verts), np.array(faces), vertex_colors=np.array(colors), process=False)


def _clip_near(points: np.ndarray, near: float) -> np.ndarray:
    """A convex polygon ``(N, 3)`` in camera space (OpenGL: the camera looks down -z) clipped to
    the half space in front of the near plane, ``z <= -near`` (Sutherland-Hodgman, one plane);
    ``(0, 3)`` when none of it is in front."""
    out: list[np.ndarray] = []
    inside = points[:, 2] <= -near
    for j in range(len(points)):
        a, b = points[j - 1], points[j]
        if inside[j] != inside[j - 1]:  # the edge crosses the plane
            s = (-near - a[2]) / (b[2] - a[2])
            out.append(a + s * (b - a))
        if inside[j]:
            out.append(b)
    return np.array(out).reshape(-1, 3)


class _FlatFloor:
    """The checkered floor drawn in 2D (OpenCV polygons) as the picture's background, under a body
    rendered alone; GL draws none of it.

    On llvmpipe (software GL) the floor cost about as much as the body (docs/BENCHMARKS.md, issue
    17). Here each frame projects the tiles' corners with the frame's camera (pyrender's own view
    and projection matrices, the near plane clipped as GL clips it) and fills the tiles with
    anti-aliased polygons. There is no depth test between floor and body: the character stands on
    or above the floor (its lowest rest vertex defines the floor's height and the camera looks
    down on it), so the body always hides the floor, never the other way round.

    Shading: one flat colour per kind of tile, the average of GL's. :meth:`calibrate` renders,
    once, with pyrender itself, a plane of each tile colour (lit by the scene's lights, seen by
    the first frame's camera) and takes its mean over the pixels the floor covers. The follow
    camera keeps its azimuth and elevation and the light its direction, and pyrender's shader
    depends only on the normal, the light's direction and the direction from the point to the
    camera, so each screen pixel is lit the same in every frame: the average holds for all.
    GL's own floor varies by a few grey levels across the picture (its specular term).

    Convention: corners in the world, metres (y up); pictures ``(H, W, 3)`` uint8 BGR.
    """

    def __init__(self, center: np.ndarray, y: float, size: float, tiles: int = 24) -> None:
        step = size / tiles
        g = np.arange(tiles + 1) * step - size / 2
        x, z = np.meshgrid(center[0] + g, center[2] + g, indexing="ij")  # corner (i, k)
        self.corners = np.stack([x, np.full_like(x, y), z, np.ones_like(x)], axis=-1)  # (T+1, T+1, 4)
        i, k = np.meshgrid(np.arange(tiles), np.arange(tiles), indexing="ij")
        dark = ((i + k) % 2 == 0).ravel()  # _checker_floor's colours: (i + k) odd is the light tile
        quad = np.stack([(i, k), (i + 1, k), (i + 1, k + 1), (i, k + 1)], axis=-1).reshape(2, -1, 4)  # (2, T*T, 4)
        self.dark_quads = quad[:, dark]  # (2, n, 4) the dark tiles' corner indices
        self.all_quads = quad
        self.outer = np.array([[0, 0], [tiles, 0], [tiles, tiles], [0, tiles]])
        self.center, self.y, self.size, self.tiles = np.asarray(center, float), float(y), float(size), tiles
        # set by calibrate: the sky alone (H, W, 3) uint8 BGR, and the two tiles' lit colours (BGR)
        self.sky: np.ndarray | None = None
        self.light_bgr: tuple[int, ...] = (0, 0, 0)
        self.dark_bgr: tuple[int, ...] = (0, 0, 0)

    def polygons(self, view: np.ndarray, proj: np.ndarray, size: tuple[int, int], near: float,
                 which: str = "dark") -> list[Any]:
        """The dark tiles (``"dark"``), the floor's outline (``"outer"``) or every tile in
        ``_checker_floor``'s order, None for those wholly behind the near plane (``"tiles"``), in
        pixels: ``(N, 2)`` float (x right, y down, pixel centres at integers, as OpenCV draws),
        clipped at the near plane.

        Args:
            view: ``(4, 4)`` world to camera (OpenGL axes); proj: ``(4, 4)`` pyrender's projection.
            size: the picture's ``(width, height)``.
        """
        cam = self.corners @ view.T  # (T+1, T+1, 4)
        if which == "outer":
            quads = [cam[self.outer[:, 0], self.outer[:, 1], :3]]
        elif which == "tiles":
            return [None if len(p) < 3 else self._pixels(p, proj, size)
                    for p in (_clip_near(q, near) for q in cam[self.all_quads[0], self.all_quads[1], :3])]
        else:
            q = cam[self.dark_quads[0], self.dark_quads[1], :3]  # (n, 4, 3)
            front = (q[..., 2] <= -near).all(axis=1)
            part = ~front & (q[..., 2] <= -near).any(axis=1)
            quads = [q[front]] if front.any() else []
            quads = list(quads) + [q[j] for j in np.nonzero(part)[0]]
        out = []
        for poly in quads:
            poly = poly if poly.ndim == 3 else _clip_near(poly, near)[None]
            if poly.shape[1] >= 3:
                out += list(self._pixels(poly, proj, size))
        return out

    @staticmethod
    def _pixels(points: np.ndarray, proj: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Camera-space points ``(..., 3)`` (in front of the near plane) in pixels ``(..., 2)``."""
        clip = np.concatenate([points, np.ones(points.shape[:-1] + (1,))], axis=-1) @ proj.T
        ndc = clip[..., :2] / clip[..., 3:4]
        w, h = size
        return np.stack([(ndc[..., 0] + 1.0) * 0.5 * w - 0.5, (1.0 - ndc[..., 1]) * 0.5 * h - 0.5], axis=-1)

    def calibrate(self, pyrender: Any, trimesh: Any, renderer: Any, scene: Any) -> None:
        """Render the two lit tile colours once (see the class), the scene's camera and light as
        they are, its other meshes hidden by the caller; each tile colour is the mean of its
        lit plane over the pixels the floor covers."""
        import cv2

        shots = []
        for rgba in ([200, 200, 205, 255], [150, 150, 160, 255]):  # light, dark: _checker_floor's
            half = 50.0 * self.size
            c, y = self.center, self.y
            verts = np.array([[c[0] - half, y, c[2] - half], [c[0] + half, y, c[2] - half],
                              [c[0] + half, y, c[2] + half], [c[0] - half, y, c[2] + half]])
            plane = trimesh.Trimesh(verts, np.array([[0, 2, 1], [0, 3, 2]]), vertex_colors=np.array([rgba] * 4),
                                    process=False)
            node = scene.add(pyrender.Mesh.from_trimesh(plane, smooth=False))
            try:
                color, _ = renderer.render(scene)
            finally:
                scene.remove_node(node)
            shots.append(color.astype(np.float32))
        h, w = shots[0].shape[:2]
        cam = scene.get_pose(scene.main_camera_node)
        proj = scene.main_camera_node.camera.get_projection_matrix(w, h)
        seen = np.zeros((h, w), np.uint8)  # where the floor is at this camera
        polys = self.polygons(np.linalg.inv(cam), proj, (w, h), scene.main_camera_node.camera.znear, "outer")
        cv2.fillPoly(seen, [np.round(p * 16).astype(np.int32) for p in polys], (1,), shift=4)
        light, dark = (shot[seen > 0].mean(axis=0) if seen.any() else shot[-1, w // 2] for shot in shots)
        self.light_bgr = tuple(int(round(v)) for v in light[::-1])
        self.dark_bgr = tuple(int(round(v)) for v in dark[::-1])
        # the top row is sky: the camera looks down 12 degrees, its view reaches 20 up
        self.sky = np.ascontiguousarray(np.broadcast_to(shots[0][0, 0, ::-1].astype(np.uint8), (h, w, 3)))

    def background(self, view: np.ndarray, proj: np.ndarray, near: float) -> np.ndarray:
        """The frame's background, ``(H, W, 3)`` uint8 BGR: the sky, the floor's outline filled
        with the light tiles' colour over it, the dark tiles over that, anti-aliased edges."""
        import cv2

        assert self.sky is not None
        h, w = self.sky.shape[:2]
        image = self.sky.copy()
        for which, color in (("outer", self.light_bgr), ("dark", self.dark_bgr)):
            polys = [np.round(p * 16).astype(np.int32) for p in self.polygons(view, proj, (w, h), near, which)]
            if polys:
                cv2.fillPoly(image, polys, color, lineType=cv2.LINE_AA, shift=4)
        return image


def _set_msaa_samples(renderer: Any, samples: int) -> None:
    """Make a ``pyrender.OffscreenRenderer`` draw with ``samples`` samples a pixel (0: no
    multisampling) instead of the 4 pyrender always asks for.

    pyrender 0.1.45 (pinned) allocates its multisampled colour and depth renderbuffers in
    ``Renderer._configure_main_framebuffer`` with a literal 4, and blits them into the plain
    framebuffer it reads back. This wraps that method on this renderer only: after pyrender
    (re)creates its framebuffers, the two multisampled renderbuffers get their storage again with
    ``samples`` (both the same, as a framebuffer needs); the rest of pyrender is untouched.
    """
    gl = require("OpenGL.GL", "preview")
    inner = renderer._renderer
    original = inner._configure_main_framebuffer

    def configure() -> None:
        before = inner._main_cb_ms
        original()
        if inner._main_cb_ms is not before:  # pyrender has just made them
            w, h = inner._main_fb_dims
            for buffer, fmt in ((inner._main_cb_ms, gl.GL_RGBA), (inner._main_db_ms, gl.GL_DEPTH_COMPONENT24)):
                gl.glBindRenderbuffer(gl.GL_RENDERBUFFER, buffer)
                gl.glRenderbufferStorageMultisample(gl.GL_RENDERBUFFER, samples, fmt, w, h)
            gl.glBindRenderbuffer(gl.GL_RENDERBUFFER, 0)

    inner._configure_main_framebuffer = configure


def _vertex_normals(vertices: np.ndarray, corner_vertex: np.ndarray, corners: Any) -> np.ndarray:
    """Unit vertex normals ``(V, 3)``: each face's unit normal weighted by its corner angle at the
    vertex, summed and normalised (trimesh's ``Trimesh.vertex_normals``, one frame in a few
    vectorised steps).

    Args:
        vertices: ``(V, 3)`` positions.
        corner_vertex: ``(3, F)`` the faces' vertex indices, corner by corner (``faces.T``,
            contiguous).
        corners: ``(V, 3F)`` sparse, 1 where corner ``c`` (face ``c // 3``, its corner
            ``c % 3``) is vertex ``v``.

    Degenerate faces add nothing; a vertex of none but those gets a zero normal.
    """
    a, b, c = (vertices[i] for i in corner_vertex)
    e0, e1, e2 = b - a, c - b, a - c  # edge k runs from corner k to corner k + 1
    normal = np.cross(e0, e1)  # (F, 3), twice the face's area long
    area2 = np.sqrt(np.einsum("fi,fi->f", normal, normal))
    l0, l1, l2 = (np.sqrt(np.einsum("fi,fi->f", e, e)) for e in (e0, e1, e2))
    weight = np.empty((len(a), 3))  # the corner's angle / |normal|
    with np.errstate(divide="ignore", invalid="ignore"):
        # the angle at corner k lies between edge k and the reversed edge k - 1
        for k, (ek, eprev, lk, lprev) in enumerate(((e0, e2, l0, l2), (e1, e0, l1, l0), (e2, e1, l2, l1))):
            np.arccos(np.clip(-np.einsum("fi,fi->f", ek, eprev) / (lk * lprev), -1.0, 1.0), out=weight[:, k])
        weight *= np.where(area2 > 1e-12, 1.0 / area2, 0.0)[:, None]
    np.nan_to_num(weight, copy=False)  # a zero-length edge's corner
    summed = corners @ (weight[:, :, None] * normal[:, None, :]).reshape(-1, 3)
    norm = np.sqrt(np.einsum("vi,vi->v", summed, summed))[:, None]
    return np.divide(summed, norm, out=np.zeros_like(summed), where=norm > 1e-12)


class _PosedMesh:
    """A skinned mesh as one pyrender primitive made once, posed frame by frame in place.

    pyrender (0.1.45, pinned) sends a primitive to the GPU once, as one interleaved float32
    vertex buffer (per vertex: position xyz, then normal xyz: ``Primitive._add_to_context``), and
    has no call that changes it. Building a new mesh each frame (trimesh, its normals, new GL
    buffers) cost a tenth of each frame at the demo's size (docs/BENCHMARKS.md, issue 17); here
    :meth:`pose` skins the frame (:func:`pose2rig.retarget.lbs.skin_frame`), computes the normals
    (:func:`_vertex_normals`) and writes both into the buffer pyrender made (``glBufferSubData``)
    while the renderer's context is current. Before the first render the primitive is not on the GPU yet: its arrays are set
    instead, and pyrender uploads them.

    The primitive's ``positions`` stay the rest pose: pyrender reads them only for the scene's
    bounds (shadow maps and the viewer, neither used here).
    """

    def __init__(self, pyrender: Any, mesh: SkinnedMesh, material: Any) -> None:
        import scipy.sparse

        self.gl = require("OpenGL.GL", "preview")
        self.mesh = mesh
        faces = mesh.faces.astype(np.intp)
        self.corner_vertex = np.ascontiguousarray(faces.T)
        n, corners = len(mesh.vertices), faces.size
        self.corners = scipy.sparse.csr_matrix(
            (np.ones(corners), (faces.ravel(), np.arange(corners))), shape=(n, corners)
        )
        self.buffer = np.empty((n, 6), np.float32)  # the GPU's layout: position, normal
        rest = mesh.vertices.astype(np.float64)
        self.primitive = pyrender.Primitive(
            positions=rest, normals=_vertex_normals(rest, self.corner_vertex, self.corners),
            indices=mesh.faces, material=material,  # mode: triangles, pyrender's default
        )
        self.node_mesh = pyrender.Mesh(primitives=[self.primitive])

    def pose(self, renderer: Any, matrices: np.ndarray) -> None:
        """Skin the mesh with one frame's skinning matrices ``(J, 4, 4)`` and put it on the GPU
        of ``renderer`` (a ``pyrender.OffscreenRenderer``) for its next render."""
        verts = skin_frame(self.mesh, matrices)
        self.buffer[:, :3] = verts
        self.buffer[:, 3:] = _vertex_normals(verts, self.corner_vertex, self.corners)
        prim = self.primitive
        if not prim._in_context():  # not uploaded yet: pyrender sends these arrays on its first render
            prim.positions, prim.normals = self.buffer[:, :3], self.buffer[:, 3:]
            return
        gl = self.gl
        renderer._platform.make_current()
        gl.glBindBuffer(gl.GL_ARRAY_BUFFER, prim._buffers[0])
        gl.glBufferSubData(gl.GL_ARRAY_BUFFER, 0, self.buffer.nbytes, self.buffer)
        gl.glBindBuffer(gl.GL_ARRAY_BUFFER, 0)


class CharacterRenderer:
    """Offscreen renders of one animated character; :meth:`render` gives frame ``t`` as BGR.

    Args:
        animation: the character's animation.
        size: the picture's ``(width, height)`` in pixels.
        flat_floor: draw the checkered floor in 2D under a body rendered alone
            (:class:`_FlatFloor`; False: pyrender draws it, as before).
        msaa: samples a pixel of pyrender's multisampled framebuffer, 0 (none) to 4 (pyrender's
            own; :func:`_set_msaa_samples`).
    """

    def __init__(self, animation: RigAnimation, *, size: tuple[int, int] = (540, 720), flat_floor: bool = True,
                 msaa: int = 4) -> None:
        if animation.rig.mesh is None:
            raise Pose2RigError(f"rig {animation.rig.name!r} has no skinned mesh to preview")
        if not (isinstance(msaa, int) and 0 <= msaa <= 4):
            raise ArgumentError(f"{{msaa}} must be an integer from 0 to 4, got {msaa!r}", "msaa")
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
        logging.getLogger("OpenGL").setLevel(logging.WARNING)  # "No OpenGL_accelerate module" is noise
        pyrender = require("pyrender", "preview")  # or the one line naming the extra
        trimesh = require("trimesh", "preview")
        self.pyrender, self.trimesh = pyrender, trimesh
        self.animation = animation
        self.mesh = animation.rig.mesh
        self.size = (int(size[0]), int(size[1]))
        self.skinning = animation.skinning_matrices()
        rest = self.mesh.vertices.astype(np.float64)
        lo, hi = rest.min(axis=0), rest.max(axis=0)
        self.height = float(hi[1] - lo[1])
        self.floor = float(lo[1])
        # follow the body: the roots' motion carried to the rest mesh's middle, smoothed over ~1 s
        # (a subject who climbs onto something leaves the floor; the camera goes along)
        roots = animation.root_positions.mean(axis=1)
        middle = 0.5 * (lo + hi) - animation.rig.heads[[j for j, p in enumerate(animation.rig.parents) if p < 0]].mean(axis=0)
        self.follow = follow_path(roots + middle, animation.fps, max_offset=0.1 * self.height)
        self.scene = pyrender.Scene(bg_color=[0.93, 0.94, 0.96, 1.0], ambient_light=[0.35, 0.35, 0.35])
        floor_center = np.array([roots[:, 0].mean(), 0.0, roots[:, 2].mean()])
        floor_size = max(12.0, 3 * float(np.ptp(roots[:, [0, 2]], axis=0).max()))
        self.flat_floor = _FlatFloor(floor_center, self.floor - 1e-3, floor_size) if flat_floor else None
        if self.flat_floor is None:
            self.scene.add(pyrender.Mesh.from_trimesh(_checker_floor(floor_center, self.floor - 1e-3, floor_size),
                                                      smooth=False))
        self.material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=[0.72, 0.55, 0.45, 1.0], metallicFactor=0.0, roughnessFactor=0.7
        )
        self.body = _PosedMesh(pyrender, self.mesh, self.material)
        self.scene.add(self.body.node_mesh)
        aspect = self.size[0] / self.size[1]
        self.camera = pyrender.PerspectiveCamera(yfov=np.radians(40.0), aspectRatio=aspect)
        self.cam_node = self.scene.add(self.camera, pose=np.eye(4))
        light = pyrender.DirectionalLight(color=np.ones(3), intensity=3.0)
        self.light_node = self.scene.add(light, pose=np.eye(4))
        try:
            self.renderer = pyrender.OffscreenRenderer(*self.size)
        except Exception as e:
            raise Pose2RigError(
                f"cannot open an offscreen OpenGL context for the character preview ({type(e).__name__}: {e}); "
                "it needs EGL (Debian: libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libgbm1)"
            ) from None
        if msaa != 4:
            _set_msaa_samples(self.renderer, msaa)
        if self.flat_floor is not None:
            self._place_camera(0)
            self.body.node_mesh.is_visible = False
            try:
                self.flat_floor.calibrate(pyrender, trimesh, self.renderer, self.scene)
            finally:
                self.body.node_mesh.is_visible = True
            self.scene.bg_color = np.zeros(4)  # the body alone, premultiplied over transparent black

    def _place_camera(self, t: int) -> np.ndarray:
        """Set the camera's and the light's poses for frame ``t``; the camera's pose."""
        target = self.follow[t]
        az, el = np.radians(25.0), np.radians(12.0)
        dist = 0.7 * self.height / np.tan(np.radians(20.0))  # the body fills ~70% of the height
        eye = target + dist * np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
        pose = _look_at(eye, target)
        self.scene.set_pose(self.cam_node, pose)
        self.scene.set_pose(self.light_node, _look_at(target + np.array([1.0, 3.0, 2.0]), target))
        return pose

    def render(self, t: int) -> np.ndarray:
        """Frame ``t`` of the animation: ``(H, W, 3)`` uint8 BGR."""
        t = int(np.clip(t, 0, self.animation.num_frames - 1))
        self.body.pose(self.renderer, self.skinning[t])
        pose = self._place_camera(t)
        if self.flat_floor is None:
            color, _ = self.renderer.render(self.scene)
            return np.ascontiguousarray(color[..., ::-1])
        rgba, _ = self.renderer.render(self.scene, flags=self.pyrender.RenderFlags.RGBA)
        out = self.flat_floor.background(np.linalg.inv(pose), self.camera.get_projection_matrix(*self.size),
                                         self.camera.znear)
        # the body's pixels only; pyrender's colour is premultiplied here (cleared to transparent black)
        ys, xs = np.nonzero(rgba[..., 3])
        fg = rgba[ys, xs].astype(np.int32)
        back = out[ys, xs].astype(np.int32)
        out[ys, xs] = np.minimum(fg[:, 2::-1] + (back * (255 - fg[:, 3:]) + 127) // 255, 255)
        return out

    def close(self) -> None:
        self.renderer.delete()


def render_character_preview(
    path: str | Path,
    animation: RigAnimation,
    *,
    frames: Iterable[Frame] | None = None,
    progress: Progress = True,
    height: int = 720,
) -> str:
    """Write a video of the skinned character, beside the source clip when ``frames`` is given.

    Args:
        path: output ``.mp4``, written atomically.
        animation: the character's animation; its frame ``t`` is shown at time ``t / fps``
            (the nearest animation frame to each video frame's time).
        frames: the source clip's frames (:func:`pose2rig.video.open_video`), or None for the
            character alone at the animation's fps.
        progress: show a progress bar.
        height: output height in pixels.

    Returns:
        The codec used, ``"h264"`` or ``"mp4v"``.
    """
    import cv2

    from pose2rig.video import VideoWriter

    panel = (int(round(height * 0.75)) // 2 * 2, int(height) // 2 * 2)
    n = animation.num_frames
    items: Iterator[tuple[float, np.ndarray | None]]
    if frames is None:
        items = iter([(t / animation.fps, None) for t in range(n)])
        total = n
    else:
        items = ((float(f.time), np.asarray(f.image)) for f in frames)
        total = len(frames) if isinstance(frames, Sized) else n
    first = next(items, None)
    if first is None:
        raise Pose2RigError("character preview: the clip has no frames")
    t0 = first[0]

    def compose(time: float, image: np.ndarray | None) -> np.ndarray:
        view = renderer.render(int(round((time - t0) * animation.fps)))
        if image is None:
            return view
        w = int(round(image.shape[1] * panel[1] / image.shape[0])) // 2 * 2
        return np.concatenate([cv2.resize(image, (w, panel[1]), interpolation=downscale_interpolation(image.shape[0], panel[1])), view], axis=1)

    renderer = CharacterRenderer(animation, size=panel)
    try:
        view = compose(*first)
        fps = animation.fps
        with progress_bar(total=total, desc="character preview", progress=progress) as bar, VideoWriter(
            path, fps=fps, size=(view.shape[1], view.shape[0])
        ) as writer:
            writer.write(view)
            bar.update(1)
            for time, image in items:
                writer.write(compose(time, image))
                bar.update(1)
        return writer.codec
    finally:
        renderer.close()


def _opengl_pose(camera_to_world: np.ndarray) -> np.ndarray:
    """``(4, 4)`` an OpenCV camera's pose in the world (x right, y down, z forward) as pyrender's
    OpenGL camera pose (x right, y up, looking down -z)."""
    pose = np.array(camera_to_world, dtype=np.float64)
    pose[:3, :3] = pose[:3, :3] @ np.diag([1.0, -1.0, -1.0])
    return pose


def render_character_overlay(
    path: str | Path,
    animation: RigAnimation,
    frames: Iterable[Frame],
    *,
    camera_matrix: np.ndarray,
    camera_to_world: np.ndarray,
    frame_times: np.ndarray | None = None,
    fps: float | None = None,
    opacity: float = 0.75,
    progress: Progress = True,
) -> str:
    """Write the skinned character drawn over the source clip, seen through the clip's camera.

    Args:
        path: output ``.mp4``, written atomically; the clip's frames at their size.
        animation: the character's animation in the world frame.
        frames: the clip's frames (:func:`pose2rig.video.open_video`).
        camera_matrix: ``(3, 3)`` the camera's intrinsics in the frames' pixels (OpenCV).
        camera_to_world: ``(4, 4)`` the camera's pose: ``p_world = R @ p_camera + t`` with
            OpenCV camera axes (x right, y down, z forward).
        frame_times: ``(T,)`` seconds: each animation frame's time on the clip's clock (each
            clip frame shows the nearest); default the first frame's time ``+ t / fps``.
        fps: the output's frame rate (default the animation's).
        opacity: the body's opacity over the picture, 0..1.
        progress: show a progress bar.

    Returns:
        The codec used, ``"h264"`` or ``"mp4v"``.
    """
    from pose2rig.video import VideoWriter

    if animation.rig.mesh is None:
        raise Pose2RigError(f"rig {animation.rig.name!r} has no skinned mesh to preview")
    k = np.asarray(camera_matrix, dtype=np.float64)
    pose = np.asarray(camera_to_world, dtype=np.float64)
    if k.shape != (3, 3) or not np.isfinite(k).all() or pose.shape != (4, 4) or not np.isfinite(pose).all():
        raise Pose2RigError(f"overlay: camera_matrix must be finite (3, 3) and camera_to_world (4, 4), "
                            f"got {k.shape} and {pose.shape}")
    if not 0.0 <= opacity <= 1.0:
        raise Pose2RigError(f"overlay: opacity must be within 0..1, got {opacity}")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    logging.getLogger("OpenGL").setLevel(logging.WARNING)
    import pyrender
    import trimesh

    mesh = animation.rig.mesh
    skinning = animation.skinning_matrices()
    n = animation.num_frames
    items = iter(frames)
    first = next(items, None)
    if first is None:
        raise Pose2RigError("character overlay: the clip has no frames")
    times = (np.asarray(frame_times, dtype=np.float64) if frame_times is not None
             else float(first.time) + np.arange(n) / animation.fps)
    if times.shape != (n,):
        raise Pose2RigError(f"overlay: frame_times must be ({n},), got {times.shape}")
    h, w = first.image.shape[:2]
    scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[0.35, 0.35, 0.35])
    gl_pose = _opengl_pose(pose)
    scene.add(pyrender.IntrinsicsCamera(fx=k[0, 0], fy=k[1, 1], cx=k[0, 2], cy=k[1, 2], znear=0.05, zfar=100.0),
              pose=gl_pose)
    scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0), pose=gl_pose)
    material = pyrender.MetallicRoughnessMaterial(baseColorFactor=[0.72, 0.55, 0.45, 1.0], metallicFactor=0.0,
                                                  roughnessFactor=0.7)
    try:
        renderer = pyrender.OffscreenRenderer(w, h)
    except Exception as e:
        raise Pose2RigError(
            f"cannot open an offscreen OpenGL context for the overlay ({type(e).__name__}: {e}); "
            "it needs EGL (Debian: libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libgbm1)"
        ) from None
    body = None

    def compose(time: float, image: np.ndarray) -> np.ndarray:
        nonlocal body
        t = int(np.clip(np.searchsorted(times, time), 1, n - 1)) if n > 1 else 0
        if n > 1 and abs(times[t - 1] - time) <= abs(times[t] - time):
            t -= 1
        verts = skin_frame(mesh, skinning[t])
        if body is not None:
            scene.remove_node(body)
        body = scene.add(pyrender.Mesh.from_trimesh(trimesh.Trimesh(verts, mesh.faces, process=False),
                                                    material=material, smooth=True))
        color, _ = renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
        if image.shape[:2] != (h, w):
            raise Pose2RigError(f"overlay: the clip's frames change size ({image.shape[1]}x{image.shape[0]}, "
                                f"first {w}x{h})")
        a = opacity * color[..., 3:4].astype(np.float32) / 255.0
        out = image.astype(np.float32) * (1.0 - a) + color[..., 2::-1].astype(np.float32) * a
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    try:
        total = len(frames) if isinstance(frames, Sized) else None
        with progress_bar(total=total, desc="body preview", progress=progress) as bar, VideoWriter(
            path, fps=fps or animation.fps, size=(w, h)
        ) as writer:
            writer.write(compose(float(first.time), np.asarray(first.image)))
            bar.update(1)
            for f in items:
                writer.write(compose(float(f.time), np.asarray(f.image)))
                bar.update(1)
        return writer.codec
    finally:
        renderer.delete()
