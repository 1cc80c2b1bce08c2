"""The lifter's geometry pinned by name: back-projection, the random projection layer, its
rotations, and the metric that scores the result (``pose2rig/lift/projection.py``).

``tests/test_lift.py`` covers the single-case conventions (axis directions, ranges, shapes); these
tests pin the invariants over many random draws and extreme inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from pose2rig.evaluate import p_mpjpe
from pose2rig.lift import codec
from pose2rig.lift.model import Generator
from pose2rig.lift.projection import (
    MIN_DEPTH,
    back_project,
    project,
    random_angles,
    random_projection,
    rotation_matrices,
)

D = codec.DEPTH


def _normalised_poses(n: int, seed: int = 0) -> torch.Tensor:
    """``(n, 17, 2)`` float64 normalised 2D poses: random pixel poses through the codec, so the
    root sits exactly at the origin and the head at distance ``1/d`` (or the robust floor)."""
    rng = np.random.default_rng(seed)
    px = rng.normal(0.0, 80.0, size=(n, 17, 2)) + rng.uniform(-500, 500, size=(n, 1, 2))
    norm, _, _ = codec.normalise(px)
    return torch.from_numpy(norm.astype(np.float64))


def _rotate_about_t(points: torch.Tensor, r: torch.Tensor, d: float = D) -> torch.Tensor:
    """The layer's 3D step written out: ``P = R (X - T) + T``, ``T = [0, 0, d]``."""
    t = torch.tensor([0.0, 0.0, d], dtype=points.dtype)
    return torch.einsum("bij,bkj->bki", r, points - t) + t


# --- back-projection then projection -----------------------------------------------------

def test_convention_identity_rotation_reproduces_the_input_to_rounding():
    """R = I: ``project(back_project(xy, o))`` is ``xy`` in float64 to a few ulp, for ordinary,
    large and clamped (``d + o < 1``) offsets alike."""
    xy = _normalised_poses(256)
    g = torch.Generator().manual_seed(0)
    offsets = torch.cat([
        torch.randn(128, 17, generator=g, dtype=torch.float64) * 0.5,  # the generator's range
        torch.randn(64, 17, generator=g, dtype=torch.float64) * 1e3,   # far behind / clamped
        torch.full((64, 17), -1e6, dtype=torch.float64),               # all clamped to z = 1
    ])
    x = back_project(xy, offsets)
    assert x.dtype == torch.float64
    p = project(x, torch.eye(3, dtype=torch.float64).expand(256, 3, 3))
    np.testing.assert_allclose(p.numpy(), xy.numpy(), rtol=1e-13, atol=1e-15)
    assert torch.all(x[64 * 3 :, :, 2] == MIN_DEPTH)


# --- in front of the camera ---------------------------------------------------------------

@pytest.mark.parametrize("offset_scale", [0.5, 1e2, 1e6])
def test_convention_projection_divides_by_a_depth_of_at_least_one(offset_scale):
    """Every point is projected as if it were at depth ``max(P_z, 1)``: nothing behind or at the
    camera is divided by a small or negative depth, so no point is mirrored through the centre
    or blown up, however extreme the offsets and the rotation."""
    g = torch.Generator().manual_seed(1)
    xy = _normalised_poses(512, seed=1) * 20  # wide poses, up to several units off the axis
    o = torch.randn(512, 17, generator=g, dtype=torch.float64) * offset_scale
    o[:, 0] = 0.0
    x = back_project(xy, o)
    assert torch.all(x[..., 2] >= MIN_DEPTH)
    p, r = random_projection(x, elevation=(-90.0, 90.0), generator=g)  # wider than training
    big = _rotate_about_t(x, r)
    assert (big[..., 2] < MIN_DEPTH).any() or offset_scale < 1  # the extreme cases do reach it
    assert torch.isfinite(p).all()
    depth = big[..., 2:3].clamp_min(MIN_DEPTH)
    np.testing.assert_allclose(p.numpy(), (big[..., :2] / depth).numpy(), rtol=1e-12, atol=1e-12)
    # no sign flip: each projected coordinate keeps the sign of the rotated point's coordinate
    assert torch.all(p * big[..., :2] >= 0)
    assert torch.all(p.abs() <= big[..., :2].abs() + 1e-9)


# --- the random rotations ------------------------------------------------------------------

def _angles_of(r: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Elevation and azimuth (degrees) back from ``R = R_x(el) R_y(az)``: row 0 is
    ``[cos az, 0, sin az]`` and column 1 is ``[0, cos el, sin el]``."""
    az = torch.rad2deg(torch.atan2(r[:, 0, 2], r[:, 0, 0])) % 360.0
    el = torch.rad2deg(torch.atan2(r[:, 2, 1], r[:, 1, 1]))
    return el.numpy(), az.numpy()


def test_random_projection_rotations_are_uniform_in_the_stated_ranges():
    """Kolmogorov-Smirnov against U[0, 20] deg elevation and U[0, 360) deg azimuth, on the
    angles read back from the rotations the layer used (degrees in, radians inside, R_x @ R_y)."""
    n = 20000
    x = back_project(_normalised_poses(n, seed=2).float(), torch.zeros(n, 17))
    _, r = random_projection(x, generator=torch.Generator().manual_seed(2))
    el, az = _angles_of(r.double())
    assert 0.0 <= el.min() and el.max() <= 20.0 + 1e-4
    assert stats.kstest(el, stats.uniform(loc=0.0, scale=20.0).cdf).pvalue > 1e-3
    assert stats.kstest(az, stats.uniform(loc=0.0, scale=360.0).cdf).pvalue > 1e-3
    # elevation and azimuth drawn independently: no correlation
    assert abs(np.corrcoef(el, az)[0, 1]) < 0.03
    # the test has teeth: a range that is off by a few degrees fails it
    assert stats.kstest(el, stats.uniform(loc=0.0, scale=22.0).cdf).pvalue < 1e-6


def test_random_angles_in_custom_ranges_are_uniform():
    el, az = random_angles(20000, elevation=(-30.0, 10.0), azimuth=(90.0, 180.0),
                           generator=torch.Generator().manual_seed(3))
    el, az = np.degrees(el.double().numpy()), np.degrees(az.double().numpy())
    assert stats.kstest(el, stats.uniform(loc=-30.0, scale=40.0).cdf).pvalue > 1e-3
    assert stats.kstest(az, stats.uniform(loc=90.0, scale=90.0).cdf).pvalue > 1e-3


def test_rotations_are_proper_over_the_whole_angle_range():
    g = torch.Generator().manual_seed(4)
    el = (torch.rand(5000, generator=g, dtype=torch.float64) - 0.5) * 2 * math.pi
    az = torch.rand(5000, generator=g, dtype=torch.float64) * 2 * math.pi
    r = rotation_matrices(el, az)
    eye = torch.eye(3, dtype=torch.float64).expand_as(r)
    np.testing.assert_allclose((r @ r.transpose(-1, -2)).numpy(), eye.numpy(), atol=1e-12)
    np.testing.assert_allclose(torch.linalg.det(r).numpy(), 1.0, atol=1e-12)
    # R_x(el) @ R_y(az), in that order: az about the camera's y, then el about its x
    ry = rotation_matrices(torch.zeros_like(el), az)
    rx = rotation_matrices(el, torch.zeros_like(az))
    np.testing.assert_allclose(r.numpy(), (rx @ ry).numpy(), atol=1e-12)
    assert not np.allclose(r.numpy(), (ry @ rx).numpy(), atol=1e-3)


# --- the metric sees through the layer's rigid motion --------------------------------------

def test_p_mpjpe_of_a_pose_against_its_rotated_scaled_translated_copy_is_zero():
    """A back-projected pose turned by the layer's own rotations (about T), scaled and moved
    scores zero P-MPJPE, in float32 as the lifter produces it; a non-rigid change does not."""
    n = 200
    g = torch.Generator().manual_seed(5)
    x = back_project(_normalised_poses(n, seed=5), torch.randn(n, 17, generator=g, dtype=torch.float64) * 0.3)
    _, r = random_projection(x, generator=g)
    moved = 0.37 * _rotate_about_t(x, r) + torch.tensor([0.5, -2.0, 30.0], dtype=torch.float64)
    pose, copy = x.float().numpy(), moved.float().numpy()
    assert p_mpjpe(copy, pose) < 1e-6 * np.abs(pose).max()
    bent = pose.copy()
    bent[:, 3, 2] += 0.5  # one ankle half a unit in depth
    assert p_mpjpe(bent, pose) > 0.01


# --- the root stays at the image centre ---------------------------------------------------

def test_convention_random_projection_keeps_the_root_exactly_at_the_image_centre():
    """From pixels through the codec, a generator and back-projection, the root is at
    ``[0, 0, d]`` (offset held at zero), the rotation's centre: every random view puts it at
    exactly ``(0, 0)``, for any elevation, even far outside the training range."""
    n = 4096
    torch.manual_seed(6)
    gen = Generator(width=32, blocks=1)
    torch.nn.init.normal_(gen.net.out.weight, std=0.5)  # large, non-trivial offsets
    xy = _normalised_poses(n, seed=6).float()
    assert torch.all(xy[:, codec.ROOT] == 0)
    with torch.no_grad():
        o = gen(xy)
        x = back_project(xy, o)
        p, _ = random_projection(x, elevation=(-90.0, 90.0),
                                 generator=torch.Generator().manual_seed(6))
    assert o[:, 1:].abs().max() > 1.0
    np.testing.assert_array_equal(x[:, codec.ROOT].numpy(), np.broadcast_to([0.0, 0.0, D], (n, 3)))
    np.testing.assert_array_equal(p[:, codec.ROOT].numpy(), 0.0)
    assert p[:, 1:].abs().max() > 0.01  # the other joints do move
