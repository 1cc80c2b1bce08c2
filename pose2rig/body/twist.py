"""A body fit's limb twist, for retargeting (numpy only: torch and the body model are not imported).

``retarget`` gives each limb of the user's rig a frame whose first axis runs along the limb and
whose second fixes the twist about it; from joints alone that second axis comes from the knee or
elbow plane, which a straight limb does not have. A body fit turns every bone fully, twist
included: :func:`limb_twist` carries each limb's rest-pose second axis by the bone's fitted world
rotation, and ``retarget(twist=...)`` uses it in place of the plane rule (see
:mod:`pose2rig.retarget.character`).

Convention:
    - Arrays in pose2rig's world: Y up, metres, right-handed, the body's rest pose facing +Z
      (the body models' rest axes are the world's, so a bone's world rotation from rest is its
      rotation in the world).
    - A limb is the bone from its joint to the next one down the chain (:data:`LIMB_BONES`, by
      the body model's joint names). Its **rest second axis** is the rule that
      :mod:`pose2rig.retarget.character` applies to the rig's rest pose, on the body's own rest
      joints: the limb's rest direction crossed with the rest pose's forward for arms, with its
      backward for legs (the hinge axis of a straight limb: the elbow's and knee's bending
      axis), forward being ``(left hip - right hip (unit) + left shoulder - right shoulder
      (unit)) x (mid-shoulders - mid-hips)``. The twist reference of a frame is that axis turned
      by the bone's fitted world rotation, ``(T, 3)`` unit vectors.
    - Foot headings (:func:`foot_headings`): ankle -> toe at rest turned by the foot bone's
      fitted rotation, ``(T, 3)``, as ``retarget``'s ``extremities`` take them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pose2rig.errors import Pose2RigError

if TYPE_CHECKING:
    from pose2rig.body.fit import BodyFit
    from pose2rig.body.io import BodyFile

__all__ = ["FOOT_BONES", "LIMB_BONES", "body_extremities", "body_twist", "foot_headings", "limb_twist"]

_SIDES = (("left", "L"), ("right", "R"))

LIMB_BONES: dict[str, dict[str, tuple[str, str]]] = {
    "smpl": {
        f"{s}_{part}": (f"{s}_{a}", f"{s}_{b}")
        for s, _ in _SIDES
        for part, a, b in (("upper_arm", "shoulder", "elbow"), ("forearm", "elbow", "wrist"),
                           ("thigh", "hip", "knee"), ("shin", "knee", "ankle"))
    },
    "anny": {
        f"{s}_{part}": (f"{a}.{x}", f"{b}.{x}")
        for s, x in _SIDES
        for part, a, b in (("upper_arm", "upperarm01", "lowerarm01"), ("forearm", "lowerarm01", "wrist"),
                           ("thigh", "upperleg01", "lowerleg01"), ("shin", "lowerleg01", "foot"))
    },
}
"""Per body kind (``"smpl"`` also for SMPL-H and SMPL-X, whose body joints carry SMPL's names):
the rig part (``retarget``'s role names: ``left_upper_arm``, ``left_forearm``, ``left_thigh``,
``left_shin`` and the right ones) -> (the model joint whose rotation turns it, the joint at its
far end)."""

FOOT_BONES: dict[str, dict[str, tuple[str, str]]] = {
    "smpl": {f"{s}_foot": (f"{s}_ankle", f"{s}_foot") for s, _ in _SIDES},
    "anny": {f"{s}_foot": (f"foot.{x}", f"toes.{x}") for s, x in _SIDES},
}
"""Per body kind: ``left_foot``/``right_foot`` -> (the ankle joint, the toe joint)."""


def _table(kind: str, tables: dict[str, dict[str, tuple[str, str]]]) -> dict[str, tuple[str, str]]:
    key = "smpl" if kind in ("smpl", "smplh", "smplx") else kind
    if key not in tables:
        raise Pose2RigError(f"body model kind {kind!r} has no limb table; known: smpl, smplh, smplx, anny")
    return tables[key]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _index(names: tuple[str, ...], name: str, kind: str) -> int:
    if name not in names:
        raise Pose2RigError(f"a {kind} body has no joint {name!r} (its joints: {', '.join(names)})")
    return names.index(name)


def limb_twist(kind: str, bone_names: tuple[str, ...] | list[str], bone_rest: np.ndarray,
               bone_rotations: np.ndarray) -> dict[str, np.ndarray]:
    """Each limb's twist reference (see the module's Convention) from a body fit's arrays.

    Args:
        kind: the body model's kind (``smpl``, ``smplh``, ``smplx``, ``anny``).
        bone_names: ``(J,)`` the model's joint names.
        bone_rest: ``(J, 3)`` the joints at rest for the fitted shape.
        bone_rotations: ``(T, J, 3, 3)`` each joint's world rotation from rest.

    Returns:
        ``{part: (T, 3) float64}`` unit vectors for the eight parts of :data:`LIMB_BONES`.
    """
    names = tuple(bone_names)
    table = _table(kind, LIMB_BONES)
    rest = np.asarray(bone_rest, dtype=np.float64)
    rot = np.asarray(bone_rotations, dtype=np.float64)
    at = {part: (_index(names, a, kind), _index(names, b, kind)) for part, (a, b) in table.items()}
    hips = rest[at["left_thigh"][0]] - rest[at["right_thigh"][0]]
    shoulders = rest[at["left_upper_arm"][0]] - rest[at["right_upper_arm"][0]]
    up = 0.5 * (rest[at["left_upper_arm"][0]] + rest[at["right_upper_arm"][0]]
                - rest[at["left_thigh"][0]] - rest[at["right_thigh"][0]])
    forward = _unit(np.cross(_unit(hips) + _unit(shoulders), up))
    out = {}
    for part, (a, b) in at.items():
        ref = -forward if part.endswith(("thigh", "shin")) else forward
        axis = _unit(np.cross(rest[b] - rest[a], ref))
        out[part] = _unit(rot[:, a] @ axis)
    return out


def foot_headings(kind: str, bone_names: tuple[str, ...] | list[str], bone_rest: np.ndarray,
                  bone_rotations: np.ndarray) -> dict[str, np.ndarray]:
    """``{"left_foot", "right_foot": (T, 3) float64}`` ankle -> toe directions of a body fit
    (arguments as :func:`limb_twist`): ``retarget``'s ``extremities`` for the feet."""
    names = tuple(bone_names)
    rest = np.asarray(bone_rest, dtype=np.float64)
    rot = np.asarray(bone_rotations, dtype=np.float64)
    out = {}
    for part, (a, b) in _table(kind, FOOT_BONES).items():
        i, j = _index(names, a, kind), _index(names, b, kind)
        out[part] = _unit(rot[:, i] @ (rest[j] - rest[i]))
    return out


def _arrays(body: BodyFile | BodyFit) -> tuple[str, tuple[str, ...], np.ndarray, np.ndarray]:
    from pose2rig.body.io import BodyFile, rest_joints

    if isinstance(body, BodyFile):
        return body.kind, tuple(body.bone_names), body.bone_rest, body.bone_rotations

    rest = rest_joints(body.rotations, body.model_joints, body.translation, np.asarray(body.parents))
    return body.kind, tuple(body.joint_names), rest, body.rotations


def body_twist(body: BodyFile | BodyFit) -> dict[str, np.ndarray]:
    """:func:`limb_twist` of a body file (:class:`~pose2rig.body.io.BodyFile`) or of a fit
    (:class:`~pose2rig.body.fit.BodyFit`, its rest joints found as the body file's are)."""
    return limb_twist(*_arrays(body))


def body_extremities(body: BodyFile | BodyFit) -> dict[str, np.ndarray]:
    """:func:`foot_headings` of a body file or a fit (as :func:`body_twist`)."""
    return foot_headings(*_arrays(body))
