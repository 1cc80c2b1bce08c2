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

from dataclasses import dataclass
from pathlib import Path

from pose2rig.errors import Pose2RigError
from pose2rig.io.jsonfile import read_json_object
from pose2rig.rig import Rig
from pose2rig.skeletons.names import match_bones, missing_roles_error

__all__ = ["OPTIONAL_ROLES", "REQUIRED_ROLES", "RigMapping", "load_mapping_file", "map_rig"]

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
    """

    roles: dict[str, int]
    spine: tuple[int, ...]
    neck: tuple[int, ...]

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


def map_rig(rig: Rig, overrides: dict[str, str] | None = None) -> RigMapping:
    """Find the bones playing each role in ``rig`` (by name, see
    :data:`pose2rig.skeletons.names.BONE_SYNONYMS`), with ``overrides`` (role -> bone name) first.

    Raises:
        Pose2RigError: an override names a bone the rig lacks, or a required role is missing
            (the message lists the missing roles, the names tried and the rig's bones), or the
            head does not descend from the hips.
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
    missing = [r for r in REQUIRED_ROLES if r not in roles]
    if missing:
        raise missing_roles_error(
            names, missing, what=f"rig {rig.name!r}", hint=". Pass {rig_map}: a JSON file of role -> bone name",
            arguments=("rig_map",),
        )
    # the chain from the head up to the hips
    chain: list[int] = []
    j = rig.parents[roles["head"]]
    while j >= 0 and j != roles["hips"]:
        chain.append(j)
        j = rig.parents[j]
    if j != roles["hips"]:
        raise Pose2RigError(
            f"rig {rig.name!r}: head bone {names[roles['head']]!r} does not descend from hips bone "
            f"{names[roles['hips']]!r}"
        )
    chain.reverse()  # hips side first
    neck_at = chain.index(roles["neck"]) if roles.get("neck") in chain else len(chain)
    if "neck" not in roles and chain:
        neck_at = len(chain) - 1  # the bone under the head is the neck
        roles["neck"] = chain[-1]
    for side in _SIDES:
        for part in ("thigh", "upper_arm"):
            limb = roles[f"{side}_{part}"]
            anc = limb
            while anc >= 0 and anc != roles["hips"]:
                anc = rig.parents[anc]
            if anc != roles["hips"]:
                raise Pose2RigError(
                    f"rig {rig.name!r}: {side} {part.replace('_', ' ')} bone {names[limb]!r} does not "
                    f"descend from hips bone {names[roles['hips']]!r}"
                )
    return RigMapping(roles=roles, spine=tuple(chain[:neck_at]), neck=tuple(chain[neck_at:]))
