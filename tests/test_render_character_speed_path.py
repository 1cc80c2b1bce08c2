"""pose2rig.render_character's fast path: the character's mesh is made once and each frame's skinned
positions and normals are written into its GPU buffer in place; the pictures stay those of a mesh
rebuilt from trimesh every frame (the previous path). The floor drawn in 2D lands where pyrender
draws it, in its colours; the body composited over a background is pyrender's own picture; the
multisampling setting reaches pyrender's framebuffer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose2rig.io.mocap import load_bvh_as_h36m17
from pose2rig.pipeline import load_character
from pose2rig.render_character import CharacterRenderer, _vertex_normals
from pose2rig.retarget import retarget
from pose2rig.retarget.lbs import skin_frame

WALK = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "bandai1" / "dataset-1_walk_normal_001.bvh"


def _normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    import scipy.sparse

    faces = np.asarray(faces, dtype=np.intp)
    c = faces.size
    corners = scipy.sparse.csr_matrix((np.ones(c), (faces.ravel(), np.arange(c))), shape=(len(vertices), c))
    return _vertex_normals(vertices, np.ascontiguousarray(faces.T), corners)


def test_vertex_normals_weigh_faces_by_their_corner_angle():
    """Hand-computed: the origin is a corner of a triangle in the floor (z = 0, normal +z) with a
    right angle there, and of a triangle in the wall x = 0 (normal +x) with a 45 degree angle
    there: its normal is (pi/2 * z + pi/4 * x) normalised, i.e. (1, 0, 2) / sqrt(5). A vertex of
    the floor triangle alone keeps the floor's normal."""
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])  # floor: ccw seen from +z; wall: ccw seen from +x
    normals = _normals(v, faces)
    np.testing.assert_allclose(normals[0], np.array([1.0, 0.0, 2.0]) / np.sqrt(5.0), atol=1e-12)
    np.testing.assert_allclose(normals[1], [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(normals[3], [1.0, 0.0, 0.0], atol=1e-12)


def test_a_vertex_of_degenerate_faces_only_gets_no_normal():
    v = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]])
    faces = np.array([[0, 1, 2], [0, 1, 3]])  # the first is a line
    normals = _normals(v, faces)
    np.testing.assert_array_equal(normals[2], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(normals[[0, 1, 3]], [[0.0, 0.0, 1.0]] * 3, atol=1e-12)


@pytest.fixture(scope="module")
def walk_animation():
    rig, mapping = load_character(None)
    return retarget(load_bvh_as_h36m17(WALK), rig, mapping=mapping)


def test_vertex_normals_are_trimeshs_on_the_posed_bundled_character(walk_animation):
    import trimesh

    mesh = walk_animation.rig.mesh
    verts = skin_frame(mesh, walk_animation.skinning_matrices()[40])
    ours = _normals(verts, mesh.faces)
    theirs = trimesh.Trimesh(verts, mesh.faces, process=False).vertex_normals
    assert np.abs(ours - theirs).max() < 1e-9


def test_frames_are_those_of_a_mesh_rebuilt_every_frame(walk_animation):
    """At the demo's panel size, frames drawn through the in-place buffer (the first, before the
    mesh is on the GPU, and later ones, also going back in time) match the previous path: the
    posed mesh rebuilt with ``Mesh.from_trimesh(smooth=True)`` in the same scene. Measured by
    ``bench/preview_speed.py`` on the demo: no pixel differs (every fifth of 90 frames); the bound
    leaves 1 of 255 on under 0.01% of the pixels to the float32 rounding of the normals. The
    body is lit smoothly: many shades on it, neither black nor one flat colour."""
    import pyrender
    import trimesh

    renderer = CharacterRenderer(walk_animation, size=(540, 720))
    mesh = walk_animation.rig.mesh
    skinning = walk_animation.skinning_matrices()
    try:
        for t in (0, 37, 90, 12):
            fast = renderer.render(t)
            renderer.body.node_mesh.is_visible = False
            rebuilt = pyrender.Mesh.from_trimesh(
                trimesh.Trimesh(skin_frame(mesh, skinning[t]), mesh.faces, process=False),
                material=renderer.material, smooth=True,
            )
            node = renderer.scene.add(rebuilt)
            try:
                old = renderer.render(t)
            finally:
                renderer.scene.remove_node(node)
                renderer.body.node_mesh.is_visible = True
            diff = np.abs(fast.astype(int) - old.astype(int))
            assert diff.max() <= 1, (t, diff.max())
            assert (diff > 0).mean() < 1e-4, (t, (diff > 0).mean())
            body = fast[(fast[..., 2].astype(int) - fast[..., 0]) > 30]  # BGR: skin, red well above blue
            assert len(body) > 5000, t
            luma = body.mean(axis=1)
            assert luma.mean() > 60, t  # lit, not black
            assert np.unique(body, axis=0).shape[0] > 50 and np.ptp(luma) > 40, t  # shaded, not flat
    finally:
        renderer.close()


def _hidden_body_frame(renderer: CharacterRenderer, t: int) -> np.ndarray:
    renderer.body.node_mesh.is_visible = False
    try:
        return renderer.render(t)
    finally:
        renderer.body.node_mesh.is_visible = True


def test_the_2d_floor_is_where_and_as_gl_draws_it(walk_animation):
    """The checkered floor drawn in 2D (the body hidden) against pyrender drawing the same floor
    mesh with the same camera, at the demo's panel size, on frames far apart (the camera has
    moved metres): away from the tile edges (two pixels either side of the edges our projection
    draws; far off, tiles only a few pixels tall have no such inside) every GL pixel inside one of
    our dark tiles is darker than every GL pixel inside one of our light ones, and none differs
    from ours by more than 8 (measured 3 to 6: GL's shading varies, ours is flat; the other
    tile's colour is about 24 off), so each tile's corners land within two pixels of where
    pyrender draws them. Our flat colours are GL's averages (within 2 of 255 per channel; measured
    about 1) and the whole picture is within 2 on average (measured 0.96 to 1.21)."""
    import cv2

    frames = (0, 45, 90, 140)
    gl_renderer = CharacterRenderer(walk_animation, size=(540, 720), flat_floor=False)
    try:
        gl = {t: _hidden_body_frame(gl_renderer, t) for t in frames}
    finally:
        gl_renderer.close()
    renderer = CharacterRenderer(walk_animation, size=(540, 720))
    floor = renderer.flat_floor
    assert floor is not None
    try:
        for t in frames:
            ours = _hidden_body_frame(renderer, t)
            view = np.linalg.inv(renderer.scene.get_pose(renderer.cam_node))
            proj = renderer.camera.get_projection_matrix(540, 720)
            # every tile (and the sky, 0) its own number, drawn from our projection without
            # anti-aliasing; a pixel is inside a tile when no other number is within 2 pixels
            # (far off, tiles a few pixels tall have no inside)
            ids = np.zeros((720, 540), np.uint16)
            polys = floor.polygons(view, proj, (540, 720), renderer.camera.znear, "tiles")
            for n, poly in enumerate(polys):
                if poly is not None:
                    cv2.fillPoly(ids, [np.round(poly * 16).astype(np.int32)], (n + 1,), lineType=cv2.LINE_8, shift=4)
            kernel = np.ones((5, 5), np.uint8)
            inner = cv2.dilate(ids, kernel) == cv2.erode(ids, kernel)
            tile = ids.astype(int) - 1  # _checker_floor's order: tile (i, k) is i * 24 + k
            dark = inner & (ids > 0) & ((tile // 24 + tile % 24) % 2 == 0)
            light = inner & (ids > 0) & ((tile // 24 + tile % 24) % 2 == 1)
            assert dark.sum() > 20000 and light.sum() > 20000, t  # both kinds of tile in view
            diff = np.abs(ours.astype(int) - gl[t].astype(int)).max(axis=-1)
            # GL's dark tiles are where ours are: every GL pixel inside one of our dark tiles is
            # darker than every GL pixel inside one of our light ones
            assert gl[t][dark].mean(axis=1).max() < gl[t][light].mean(axis=1).min(), t
            for m in (dark, light):  # our flat colours are GL's averages
                assert np.abs(gl[t][m].mean(axis=0) - ours[m].mean(axis=0)).max() < 2.0, t
            assert diff[inner].max() <= 8, (t, diff[inner].max())  # the other tile's colour is 20 or more off
            assert diff.mean() < 2.0, (t, diff.mean())
    finally:
        renderer.close()


def test_near_plane_clipping_keeps_the_part_in_front():
    """Hand-computed: a square from z = +1 (behind the camera) to z = -3, near plane 1: the part
    in front is the rectangle from z = -1 to z = -3."""
    from pose2rig.render_character import _clip_near

    square = np.array([[0.0, 0, 1], [1, 0, 1], [1, 0, -3], [0, 0, -3]])
    clipped = _clip_near(square, 1.0)
    expected = {(1.0, -1.0), (1.0, -3.0), (0.0, -3.0), (0.0, -1.0)}
    assert {(float(x), float(z)) for x, _, z in clipped} == expected
    assert _clip_near(square + [0, 0, 5], 1.0).shape == (0, 3)
    np.testing.assert_array_equal(_clip_near(square - [0, 0, 5], 1.0), square - [0, 0, 5])


def test_body_composited_over_a_plain_background_is_gl_s_own(walk_animation):
    """The body rendered alone (transparent, premultiplied) and composited over a plain
    background equals pyrender drawing the body over that background colour itself, edges
    included (1 of 255 for the rounding of the resolved colour and alpha)."""
    renderer = CharacterRenderer(walk_animation, size=(270, 360))
    floor = renderer.flat_floor
    assert floor is not None and floor.sky is not None
    plain = np.array([90, 160, 220])  # RGB
    floor.sky[:] = plain[::-1]
    floor.light_bgr = floor.dark_bgr = tuple(int(v) for v in plain[::-1])
    try:
        for t in (10, 70):
            ours = renderer.render(t)
            renderer.scene.bg_color = np.append(plain / 255.0, 1.0)
            try:
                theirs, _ = renderer.renderer.render(renderer.scene)
            finally:
                renderer.scene.bg_color = np.zeros(4)
            diff = np.abs(ours.astype(int) - theirs[..., ::-1].astype(int))
            assert diff.max() <= 2, (t, diff.max())
            assert (diff > 1).mean() < 1e-3, t
            assert ((ours.astype(int) - plain[::-1]) != 0).any(axis=-1).mean() > 0.05  # the body is there
    finally:
        renderer.close()


@pytest.mark.parametrize("msaa, partial", [(4, True), (0, False)])
def test_msaa_setting_reaches_pyrenders_framebuffer(walk_animation, msaa, partial):
    """With pyrender's 4 samples a pixel the body's edge pixels are partly covered (alpha between
    0 and 255); with ``msaa=0`` every pixel is covered or not."""
    import pyrender

    renderer = CharacterRenderer(walk_animation, size=(270, 360), msaa=msaa)
    try:
        renderer.render(30)
        rgba, _ = renderer.renderer.render(renderer.scene, flags=pyrender.RenderFlags.RGBA)
        alpha = rgba[..., 3]
        assert (alpha == 255).sum() > 2000
        assert (((alpha > 0) & (alpha < 255)).sum() > 100) == partial
    finally:
        renderer.close()


def test_msaa_must_be_0_to_4(walk_animation):
    from pose2rig.errors import ArgumentError

    with pytest.raises(ArgumentError, match="msaa must be an integer from 0 to 4"):
        CharacterRenderer(walk_animation, size=(270, 360), msaa=8)
