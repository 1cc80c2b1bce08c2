"""pose2rig.render_character's fast path: the character's mesh is made once and each frame's skinned
positions and normals are written into its GPU buffer in place; the pictures stay those of a mesh
rebuilt from trimesh every frame (the previous path)."""

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
