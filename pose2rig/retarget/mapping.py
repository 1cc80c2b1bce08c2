"""Which bone of a character plays which body part: found by name, or read from a JSON file.

Roles are those of :mod:`pose2rig.skeletons.names` (``hips``, ``left_thigh``, ``left_shin``,
``left_foot``, ``left_upper_arm``, ``left_forearm``, ``left_hand``, ``neck``, ``head``, ...).
The spine is not mapped by name: it is every bone on the path from the head up to the hips, so
rigs with one, two, three or five spine bones all work, whatever they call them.

Mapping file (``--map mapping.json``): a JSON object from role to the rig's bone name, e.g.
``{"hips": "pelvis", "left_thigh": "thigh_l"}``; the roles it names override the automatic
match, the others are still found by name.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.io.jsonfile import read_json_object
from pose2rig.rig import Rig
from pose2rig.skeletons.names import match_bones, missing_roles_error

__all__ = ["OPTIONAL_ROLES", "REQUIRED_ROLES", "RigMapping", "ancestors", "common_ancestor", "load_mapping_file",
           "map_rig"]

log = logging.getLogger(__name__)

_SIDES = ("left", "right")
REQUIRED_ROLES: tuple[str, ...] = (
    "hips", "head",
    *(f"{s}_{p}" for p in ("thigh", "shin", "upper_arm", "forearm") for s in _SIDES),
)
"""Roles a rig must have to be animated."""
OPTIONAL_ROLES: tuple[str, ...] = (
    "neck", *(f"{s}_{p}" for p in ("foot", "toe", "hand", "clavicle", "index1", "pinky1") for s in _SIDES),
    "head_top",
)
"""Roles used when present: the neck starts the head's chain, feet and hands place the ankle and
wrist points (their heads), toes and the head top end the foot and head, and the index and
little fingers' first joints give the hand's knuckle line (its roll)."""


@dataclass(frozen=True)
class RigMapping:
    """Role -> bone index for one rig, plus the spine and neck chains.

    Attributes:
        roles: role name -> bone index (required roles always present).
        spine: bone indices from the hips (excluded) up to the first neck bone (excluded).
        neck: bone indices from the first neck bone up to the head (excluded); may be empty.
        followers: IK-control bones outside the limb chains (a foot or hand bone that does not
            descend from its shin or forearm) -> the shin or forearm whose end they follow.
    """

    roles: dict[str, int]
    spine: tuple[int, ...]
    neck: tuple[int, ...]
    followers: dict[int, int] = field(default_factory=dict)

    def bone(self, role: str) -> int | None:
        return self.roles.get(role)


def load_mapping_file(path: Path) -> dict[str, str]:
    """Read a mapping file (role -> bone name); errors name the file and what is wrong."""
    p = Path(path)
    data = read_json_object(p, "mapping file")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise Pose2RigError(f"mapping file {p}: expected a JSON object of role -> bone name strings")
    known = set(REQUIRED_ROLES) | set(OPTIONAL_ROLES)
    unknown = sorted(set(data) - known)
    if unknown:
        raise Pose2RigError(
            f"mapping file {p} names unknown roles {', '.join(unknown)}; roles are {', '.join(sorted(known))}"
        )
    return dict(data)


def ancestors(rig: Rig, bone: int) -> list[int]:
    """``bone`` and its ancestors up to its root, nearest first."""
    out = []
    while bone >= 0:
        out.append(bone)
        bone = rig.parents[bone]
    return out


def _descends(rig: Rig, bone: int, ancestor: int) -> bool:
    return ancestor in ancestors(rig, bone)


def common_ancestor(rig: Rig, bones: list[int]) -> int | None:
    """The lowest bone that all of ``bones`` descend from (a bone descends from itself), or None
    when they hang in different trees."""
    shared = set(ancestors(rig, bones[0]))
    for b in bones[1:]:
        shared &= set(ancestors(rig, b))
    return next((a for a in ancestors(rig, bones[0]) if a in shared), None)


def _hierarchy_error(rig: Rig, roles: dict[str, int], problem: str, fix: dict[str, str] | None) -> ArgumentError:
    """A bone-hierarchy error: the problem, the bones found for the required roles (with their
    parents), and how a mapping file fixes it."""
    names = rig.bone_names

    def shown(role: str) -> str:
        j = roles[role]
        parent = rig.parents[j]
        return f"{role} = {names[j]!r} (under {names[parent]!r})" if parent >= 0 else f"{role} = {names[j]!r} (a root)"

    found = "; ".join(shown(r) for r in REQUIRED_ROLES if r in roles)
    example = json.dumps(fix) if fix else '{"hips": "<bone>", "left_thigh": "<bone>"}'
    return ArgumentError(
        f"rig {rig.name!r}: {problem}. Bones found: {found}. Pass {{rig_map}}: a JSON file of role -> bone "
        f"name, e.g. {example}, to say which bones play these roles",
        "rig_map",
    )


def map_rig(rig: Rig, overrides: dict[str, str] | None = None) -> RigMapping:
    """Find the bones playing each role in ``rig`` (by name, see
    :data:`pose2rig.skeletons.names.BONE_SYNONYMS`), with ``overrides`` (role -> bone name) first.

    The hierarchy decides where names do not: when the bone named like hips does not carry both
    thighs and the head (RobotExpressive's legs hang from ``Body``, its spine from ``Hips``
    under it), or no bone is named like hips, the hips role goes to the lowest common ancestor
    of the thighs and the head. A foot or hand bone outside its limb's chain (an IK control
    hanging from the root, as RobotExpressive's ``Foot.L``) is a follower: it follows the end of
    its shin or forearm (:attr:`RigMapping.followers`).

    Raises:
        Pose2RigError: an override names a bone the rig lacks, or a required role is missing
            (the message lists the missing roles, the names tried and the rig's bones).
        ArgumentError: (naming ``rig_map``) the bones found do not form a body: the thighs,
            arms or head do not descend from the hips; the message lists the bones found.
    """
    overrides = dict(overrides or {})
    names = rig.bone_names
    for role, bone in overrides.items():
        if bone not in names:
            raise Pose2RigError(
                f"the mapping gives {role} = {bone!r}, but rig {rig.name!r} has no such bone "
                f"(it has {', '.join(names)})"
            )
    fixed = {role: names.index(bone) for role, bone in overrides.items()}
    free = [i for i in range(len(names)) if i not in fixed.values()]
    wanted = [r for r in (*REQUIRED_ROLES, *OPTIONAL_ROLES) if r not in fixed]
    found = match_bones([names[i] for i in free], wanted)
    roles = {**{r: free[i] for r, i in found.items()}, **fixed}
    _hips_from_hierarchy(rig, roles, given="hips" in fixed)
    missing = [r for r in REQUIRED_ROLES if r not in roles]
    if missing:
        raise missing_roles_error(
            names, missing, what=f"rig {rig.name!r}", hint=". Pass {rig_map}: a JSON file of role -> bone name",
            arguments=("rig_map",),
        )
    hips = roles["hips"]
    # the chain from the head up to the hips
    chain: list[int] = []
    j = rig.parents[roles["head"]]
    while j >= 0 and j != hips:
        chain.append(j)
        j = rig.parents[j]
    if j != hips:
        raise _hierarchy_error(
            rig, roles, f"head bone {names[roles['head']]!r} does not descend from hips bone {names[hips]!r}",
            _suggestion(rig, roles),
        )
    chain.reverse()  # hips side first
    neck_at = chain.index(roles["neck"]) if roles.get("neck") in chain else len(chain)
    if "neck" not in roles and chain:
        neck_at = len(chain) - 1  # the bone under the head is the neck
        roles["neck"] = chain[-1]
    for side in _SIDES:
        for part in ("thigh", "upper_arm"):
            limb = roles[f"{side}_{part}"]
            if not _descends(rig, limb, hips):
                raise _hierarchy_error(
                    rig, roles, f"{side} {part.replace('_', ' ')} bone {names[limb]!r} does not descend from hips "
                    f"bone {names[hips]!r}", _suggestion(rig, roles),
                )
    followers: dict[int, int] = {}
    for side in _SIDES:
        for end, limb_role in (("foot", "shin"), ("hand", "forearm")):
            end_bone, limb = roles.get(f"{side}_{end}"), roles[f"{side}_{limb_role}"]
            if end_bone is not None and not _descends(rig, end_bone, limb):
                if _descends(rig, limb, end_bone):  # above its own limb: not a foot or hand at all
                    log.warning("rig %r: %s bone %r is above its %s; it is not animated as one",
                                rig.name, f"{side} {end}", names[end_bone], limb_role)
                    del roles[f"{side}_{end}"]
                else:
                    followers[end_bone] = limb
    return RigMapping(roles=roles, spine=tuple(chain[:neck_at]), neck=tuple(chain[neck_at:]), followers=followers)


def _hips_from_hierarchy(rig: Rig, roles: dict[str, int], *, given: bool) -> None:
    """Put the hips role on the lowest common ancestor of the thighs and the head where the
    names leave it missing or on a bone that does not carry them all (unless it was given)."""
    roles_needed = ("left_thigh", "right_thigh", "head")
    if given or any(r not in roles for r in roles_needed):
        return
    body = [roles[r] for r in roles_needed]
    hips = roles.get("hips")
    if hips is not None and all(_descends(rig, b, hips) for b in body):
        return
    lca = common_ancestor(rig, body)
    if lca is None or lca in body:
        return  # no body to speak of: the errors that follow say so
    if lca in roles.values():  # the bone plays another role: give it up for the hips
        roles.pop(next(r for r, b in roles.items() if b == lca))
    names = rig.bone_names
    log.info("rig %r: hips role on %r, where the thighs and the spine meet%s", rig.name, names[lca],
             f" (not {names[hips]!r}, which does not carry them)" if hips is not None else "")
    roles["hips"] = lca


def _suggestion(rig: Rig, roles: dict[str, int]) -> dict[str, str] | None:
    """A mapping that would fix the hips, where the thighs and head share an ancestor."""
    lca = common_ancestor(rig, [roles["left_thigh"], roles["right_thigh"], roles["head"]])
    if lca is None or lca == roles["hips"]:
        return None
    return {"hips": rig.bone_names[lca]}
