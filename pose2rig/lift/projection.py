"""Back-projection and the random projection layer (Drover et al. 2018), batched torch.

Convention:
    - Normalised camera frame: x right, y down, z forward (OpenCV axes), the pose's root on the
      optical axis at depth about ``d``.
    - ``back_project``: ``z_i = max(d + o_i, 1)``, ``X_i = [z_i x_i, z_i y_i, z_i]``.
    - ``random_projection``: ``P_i = R (X_i - T) + T`` with ``T = [0, 0, d]``,
      ``R = R_x(elevation) @ R_y(azimuth)`` (azimuth turns about the image's vertical axis,
      elevation tilts about its horizontal axis), ``P_z >= 1``, ``p_i = P_xy / P_z``.
    - Angles are given in degrees in signatures (as in the paper) and used in radians inside.
"""

from __future__ import annotations

import math

import torch

from pose2rig.lift.codec import DEPTH

MIN_DEPTH = 1.0


def back_project(xy_norm: torch.Tensor, depth_offsets: torch.Tensor, d: float = DEPTH) -> torch.Tensor:
    """Lift normalised 2D poses to 3D.

    Args:
        xy_norm: ``(B, J, 2)`` normalised 2D poses (see :mod:`pose2rig.lift.codec`).
        depth_offsets: ``(B, J)`` depth offsets ``o_i`` from the generator.
        d: the constant depth.

    Returns:
        ``(B, J, 3)`` points ``[z x, z y, z]`` with ``z = max(d + o, 1)``.
    """
    z = (d + depth_offsets).clamp_min(MIN_DEPTH)
    return torch.cat([xy_norm * z[..., None], z[..., None]], dim=-1)


def rotation_matrices(elevation: torch.Tensor, azimuth: torch.Tensor) -> torch.Tensor:
    """``R = R_x(elevation) @ R_y(azimuth)`` for angles in radians ``(B,)`` -> ``(B, 3, 3)``."""
    ce, se = torch.cos(elevation), torch.sin(elevation)
    ca, sa = torch.cos(azimuth), torch.sin(azimuth)
    zero, one = torch.zeros_like(ce), torch.ones_like(ce)
    rx = torch.stack([one, zero, zero, zero, ce, -se, zero, se, ce], dim=-1).view(-1, 3, 3)
    ry = torch.stack([ca, zero, sa, zero, one, zero, -sa, zero, ca], dim=-1).view(-1, 3, 3)
    return rx @ ry


def random_angles(
    batch: int,
    *,
    elevation: tuple[float, float] = (0.0, 20.0),
    azimuth: tuple[float, float] = (0.0, 360.0),
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform elevation and azimuth ``(B,)`` each, in radians, from ranges in degrees."""
    u = torch.rand(batch, 2, generator=generator, device=device)
    el = math.radians(elevation[0]) + u[:, 0] * math.radians(elevation[1] - elevation[0])
    az = math.radians(azimuth[0]) + u[:, 1] * math.radians(azimuth[1] - azimuth[0])
    return el, az


def project(points: torch.Tensor, rotation: torch.Tensor, d: float = DEPTH) -> torch.Tensor:
    """Rotate ``points (B, J, 3)`` about ``T = [0, 0, d]`` by ``rotation (B, 3, 3)`` and project.

    Returns ``(B, J, 2)``: ``P_xy / max(P_z, 1)``.
    """
    t = points.new_tensor([0.0, 0.0, d])
    p = (points - t) @ rotation.transpose(-1, -2) + t
    return p[..., :2] / p[..., 2:3].clamp_min(MIN_DEPTH)


def random_projection(
    points: torch.Tensor,
    *,
    d: float = DEPTH,
    elevation: tuple[float, float] = (0.0, 20.0),
    azimuth: tuple[float, float] = (0.0, 360.0),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The random projection layer: view each 3D pose from a random camera.

    Args:
        points: ``(B, J, 3)`` back-projected poses (see :func:`back_project`).
        elevation, azimuth: uniform ranges in degrees.
        generator: torch RNG, for reproducible draws.

    Returns:
        ``(B, J, 2)`` projections and the ``(B, 3, 3)`` rotations used.
    """
    el, az = random_angles(
        points.shape[0], elevation=elevation, azimuth=azimuth, generator=generator,
        device=points.device,
    )
    r = rotation_matrices(el, az).to(points.dtype)
    return project(points, r, d), r


def virtual_camera_views(
    joints: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    distance: tuple[float, float] = (2.5, 8.0),
    elevation: tuple[float, float] = (-10.0, 30.0),
    fov: tuple[float, float] = (40.0, 75.0),
    aim_jitter: float = 0.3,
    image_width: float = 1000.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Film world-frame poses with random perspective cameras: the synthetic 2D data.

    Each pose gets its own camera: azimuth uniform in [0, 360) deg about the world's vertical
    axis, elevation (camera above the pelvis, looking down) uniform in ``elevation`` deg,
    distance to the pelvis uniform in ``distance`` metres, horizontal field of view uniform in
    ``fov`` deg on an image ``image_width`` pixels wide, and the optical axis aimed at the pelvis
    then turned off it by up to ``aim_jitter`` of the half field of view (the subject off-centre).

    Args:
        joints: ``(B, J, 3)`` world-frame poses in metres (Y up), h36m17.

    Returns:
        ``(B, J, 2)`` pixel coordinates (x right, y down, principal point at the origin) and
        ``(B, J, 3)`` camera-frame joints (OpenCV axes, metres).
    """
    b = joints.shape[0]
    dev, dt = joints.device, joints.dtype
    u = torch.rand(b, 6, generator=generator, device=dev).to(dt)
    az = u[:, 0] * 2 * math.pi
    el = torch.deg2rad(elevation[0] + u[:, 1] * (elevation[1] - elevation[0]))
    dist = distance[0] + u[:, 2] * (distance[1] - distance[0])
    half = torch.deg2rad(fov[0] + u[:, 3] * (fov[1] - fov[0])) / 2
    f = 0.5 * image_width / torch.tan(half)
    # world (Y up) -> camera (y down, z forward): a proper rotation, pi about X (flip y AND z; a
    # y-only flip would be a reflection and film mirror-image people); at azimuth 0 the camera
    # looks along world -Z at a subject facing +Z, i.e. at the subject's front. Then turn the
    # world about Y by the azimuth and tilt down by the elevation: R = R_x(el) @ flip @ R_y(az)
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=dt, device=dev))
    zero = torch.zeros_like(az)
    r = rotation_matrices(el, zero) @ flip @ rotation_matrices(zero, az)
    root = joints[:, :1, :]
    cam = (joints - root) @ r.transpose(-1, -2)
    cam = cam + torch.stack([zero, zero, dist], dim=-1)[:, None, :]
    # turn the optical axis off the pelvis: pan and tilt by up to aim_jitter * half-fov
    pan = (u[:, 4] * 2 - 1) * aim_jitter * half
    tilt = (u[:, 5] * 2 - 1) * aim_jitter * half
    cam = cam @ rotation_matrices(tilt, pan).transpose(-1, -2)
    z = cam[..., 2:3].clamp_min(0.1)
    return f[:, None, None] * cam[..., :2] / z, cam
