"""Bone-name synonyms of the common rig naming schemes, and a lookup that uses them.

A plain data table (:data:`BONE_SYNONYMS`): each body part ("role") lists the names that rigs
give it, best first. Names compare after :func:`normalize_name` (lower case, namespace such as
``mixamorig:`` dropped, ``.``/``-``/space as ``_``), so ``thigh.L``, ``thigh_l`` and ``Thigh-L``
are one name.

Schemes covered: cgspeed CMU BVH (Hips, LeftHip, LeftKnee, LeftAnkle, Chest, Chest2, Neck, Head,
LeftCollar, LeftShoulder = upper arm, LeftElbow, LeftWrist), MotionBuilder / CMU-MB and Mixamo
(LeftUpLeg, LeftLeg, LeftFoot, Spine1, Neck1, LeftShoulder = clavicle, LeftArm, LeftForeArm,
LeftHand; ``mixamorig:`` prefix), Reallusion CC (CC_Base_Hip, CC_Base_L_Thigh, CC_Base_L_Calf,
CC_Base_Spine01, CC_Base_NeckTwist01, CC_Base_L_Upperarm, ...), Bandai-Namco (Hips, Spine,
Chest, Neck, Head, Shoulder_L, UpperArm_L, LowerArm_L, Hand_L, UpperLeg_L, LowerLeg_L, Foot_L),
Unreal / MPFB2 game engine (pelvis, spine_01, neck_01, clavicle_l, upperarm_l, lowerarm_l,
thigh_l, calf_l, foot_l, ball_l), Blender metarig / Rigify and GDQuest mannequin (thigh.L,
shin.L, upper_arm.L, forearm.L, thigh.l, calf.l, upperarm.l, lowerarm.l; Rigify's deform bones
``DEF-thigh.L``, ``DEF-spine.001``, ... match without their prefix and win over their ``ORG-``
and ``MCH-`` twins).

One name can mean two parts in two schemes: ``LeftShoulder`` is the clavicle in MotionBuilder
and Mixamo but the upper arm in cgspeed's CMU files; ``LeftHip`` is the thigh in cgspeed. The
lookup resolves roles in :data:`ROLE_ORDER` and never gives one bone two roles, so the upper
arm takes ``LeftArm`` where there is one and ``LeftShoulder`` only where there is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pose2rig.errors import ArgumentError, Pose2RigError


def normalize_name(name: str) -> str:
    """Lower case, namespace (``abc:``) and Rigify's ``DEF-`` prefix dropped, ``.``, ``-`` and
    spaces turned into ``_``."""
    name = name.rsplit(":", 1)[-1]
    name = re.sub(r"[.\- ]+", "_", name.strip()).lower()
    return name[4:] if name.startswith("def_") else name


def _sided(templates: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Expand ``{L}``/``{Left}``/``{l}`` templates into left and right name lists."""
    out: dict[str, list[str]] = {"left": [], "right": []}
    for t in templates:
        for side, word, letter in (("left", "Left", "L"), ("right", "Right", "R")):
            out[side].append(t.replace("{Left}", word).replace("{L}", letter))
    return {k: tuple(v) for k, v in out.items()}


_SIDED_TEMPLATES: dict[str, tuple[str, ...]] = {
    "thigh": (
        "{Left}UpLeg", "{Left}UpperLeg", "{Left}Thigh", "UpperLeg_{L}", "CC_Base_{L}_Thigh",
        "thigh_{L}", "upperleg_{L}", "{L}_Thigh", "{L}Thigh", "{Left}Hip",
    ),
    "shin": (
        "{Left}Leg", "{Left}LowerLeg", "{Left}Knee", "{Left}Shin", "LowerLeg_{L}",
        "CC_Base_{L}_Calf", "calf_{L}", "shin_{L}", "lowerleg_{L}", "{L}_Calf", "{L}Calf",
    ),
    "foot": (
        "{Left}Foot", "{Left}Ankle", "Foot_{L}", "CC_Base_{L}_Foot", "foot_{L}", "{L}_Foot",
        "{L}Foot",
    ),
    "toe": (
        "{Left}ToeBase", "{Left}Toe", "{Left}Toes", "Toes_{L}", "CC_Base_{L}_ToeBase", "ball_{L}",
        "toe_{L}", "toes_{L}",
    ),
    "upper_arm": (
        "{Left}Arm", "{Left}UpArm", "{Left}UpperArm", "UpperArm_{L}", "CC_Base_{L}_Upperarm",
        "upperarm_{L}", "upper_arm_{L}", "{L}_UpperArm", "{L}UpperArm", "{Left}Shoulder",
    ),
    "forearm": (
        "{Left}ForeArm", "{Left}LowerArm", "{Left}Elbow", "LowerArm_{L}", "CC_Base_{L}_Forearm",
        "lowerarm_{L}", "forearm_{L}", "{L}_Forearm", "{L}Forearm",
    ),
    "hand": (
        "{Left}Hand", "{Left}Wrist", "Hand_{L}", "CC_Base_{L}_Hand", "hand_{L}", "{L}_Hand",
        "{L}Hand",
    ),
    # the first (knuckle) joint of the index and little fingers: they fix the hand's roll
    "index1": (
        "{Left}HandIndex1", "index_01_{L}", "index_1_{L}", "f_index_01_{L}", "DEF_f_index_01_{L}",
        "CC_Base_{L}_Index1", "Index1_{L}", "{L}_Index1", "{L}Index1",
    ),
    "pinky1": (
        "{Left}HandPinky1", "pinky_01_{L}", "pinky_1_{L}", "f_pinky_01_{L}", "DEF_f_pinky_01_{L}",
        "CC_Base_{L}_Pinky1", "Pinky1_{L}", "{L}_Pinky1", "{L}Pinky1", "{Left}HandLittle1",
        "little_01_{L}",
    ),
    "clavicle": (
        "{Left}Collar", "{Left}Clavicle", "{Left}Shoulder", "Shoulder_{L}", "CC_Base_{L}_Clavicle",
        "clavicle_{L}", "shoulder_{L}", "{L}_Clavicle", "{L}Clavicle",
    ),
}

#: role -> names, best first. Sided roles are ``left_<part>`` / ``right_<part>``.
BONE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "hips": ("Hips", "Hip", "pelvis", "CC_Base_Hip", "CC_Base_Pelvis", "root_pelvis", "spine"),
    # the spine chain from the hips up; several rigs have only some of these
    "spine": ("Spine", "LowerBack", "lowerback", "CC_Base_Waist", "spine_01", "spine_001", "Spine0"),
    "chest": (
        "Chest", "Spine1", "CC_Base_Spine01", "spine_02", "spine_002", "Spine2", "UpperBack",
    ),
    "upper_chest": ("Chest2", "Spine2", "UpperChest", "CC_Base_Spine02", "spine_03", "spine_003"),
    "neck": (
        "Neck", "lowerneck", "LowerNeck", "CC_Base_NeckTwist01", "neck_01", "spine_004", "Neck0",
    ),
    "head": ("Head", "CC_Base_Head", "head", "spine_006", "Head1"),
    "head_top": ("HeadTop_End", "head_end", "HeadEnd", "Head_End", "head_top"),
}
for _part, _templates in _SIDED_TEMPLATES.items():
    for _side, _names in _sided(_templates).items():
        BONE_SYNONYMS[f"{_side}_{_part}"] = _names

#: roles resolved in this order; a bone taken by an earlier role is not offered to later ones.
ROLE_ORDER: tuple[str, ...] = (
    "hips",
    *(f"{s}_{p}" for p in ("thigh", "shin", "foot", "toe", "upper_arm", "forearm", "hand")
      for s in ("left", "right")),
    *(f"{s}_clavicle" for s in ("left", "right")),
    *(f"{s}_{p}" for p in ("index1", "pinky1") for s in ("left", "right")),
    "head", "neck", "spine", "chest", "upper_chest", "head_top",
)


def find_bone(names: Sequence[str], role: str, *, exclude: Iterable[int] = ()) -> int | None:
    """Index into ``names`` of the bone playing ``role`` (a key of :data:`BONE_SYNONYMS`).

    Returns ``None`` when no synonym matches; ``exclude`` lists indices already taken.
    """
    if role not in BONE_SYNONYMS:
        raise Pose2RigError(
            f"unknown bone role {role!r}; known: {', '.join(sorted(BONE_SYNONYMS))}"
        )
    taken = set(exclude)
    index: dict[str, int] = {}
    # Rigify's deform bones (DEF-thigh.L) first: their ORG-/MCH- twins do not deform the mesh
    order = sorted(range(len(names)), key=lambda i: not names[i].upper().startswith("DEF"))
    for i in order:
        index.setdefault(normalize_name(names[i]), i)
    for candidate in BONE_SYNONYMS[role]:
        found = index.get(normalize_name(candidate))
        if found is not None and found not in taken:
            return found
    return None


def match_bones(names: Sequence[str], roles: Iterable[str] | None = None) -> dict[str, int]:
    """Resolve ``roles`` (default: all, in :data:`ROLE_ORDER`) onto ``names``.

    Returns role -> index for the roles found; one bone never gets two roles.
    """
    wanted = list(ROLE_ORDER) if roles is None else list(roles)
    ordered = [r for r in ROLE_ORDER if r in wanted] + [r for r in wanted if r not in ROLE_ORDER]
    out: dict[str, int] = {}
    for role in ordered:
        i = find_bone(names, role, exclude=out.values())
        if i is not None:
            out[role] = i
    return {r: out[r] for r in wanted if r in out}


def require_bones(names: Sequence[str], roles: Iterable[str], *, what: str = "skeleton") -> dict[str, int]:
    """Like :func:`match_bones` but raise, naming each missing role and the names tried."""
    roles = list(roles)
    found = match_bones(names, roles)
    missing = [r for r in roles if r not in found]
    if missing:
        raise missing_roles_error(names, missing, what=what)
    return found


def missing_roles_error(names: Sequence[str], missing: Iterable[str], *, what: str, hint: str = "",
                        arguments: tuple[str, ...] = ()) -> Pose2RigError:
    """The error for a skeleton or rig without bones for ``missing`` roles: each role with the
    names tried, then the bones it has, then ``hint``, which may name ``arguments`` as
    ``{name}`` (an :class:`~pose2rig.errors.ArgumentError` then)."""
    missing = list(missing)
    tried = "; ".join(f"{r}: {', '.join(BONE_SYNONYMS[r])}" for r in missing)
    message = f"{what} lacks bones for {', '.join(missing)} (tried {tried}); it has {', '.join(names)}{hint}"
    return ArgumentError(message, *arguments) if arguments else Pose2RigError(message)


_SIDE_WORDS = (("Left", "Right"), ("left", "right"), ("LEFT", "RIGHT"))
_SIDE_PATTERNS = (
    # a side letter standing alone between separators or at an end: Hand_L, L_Hand, thigh.l,
    # CC_Base_L_Thigh, upperarm_r
    re.compile(r"(?<![A-Za-z0-9])([LRlr])(?![A-Za-z0-9])"),
    # a capital side letter before a capitalised word: LHipJoint, RThumb, LFingers
    re.compile(r"^([LR])(?=[A-Z][a-z])"),
    # a lower-case side letter before a lower-case word (CMU ASF: lhand, rfemur, lhipjoint)
    re.compile(r"^([lr])(?=[a-z]{3})"),
    # a capital side letter after a lower-case word: HandL, ThighR
    re.compile(r"(?<=[a-z])([LR])$"),
)
_OTHER = {"L": "R", "R": "L", "l": "r", "r": "l"}


def mirror_name_candidates(name: str) -> list[str]:
    """The names ``name``'s left/right twin may have, best first (empty for a mid-line name):
    ``LeftArm`` -> ``RightArm``, ``Hand_L`` -> ``Hand_R``, ``CC_Base_L_Thigh`` ->
    ``CC_Base_R_Thigh``, ``LHipJoint`` -> ``RHipJoint``, ``lhand`` -> ``rhand``, ``thigh.l`` ->
    ``thigh.r``."""
    out: list[str] = []
    for left, right in _SIDE_WORDS:
        for a, b in ((left, right), (right, left)):
            if a in name:
                out.append(name.replace(a, b))
    for pattern in _SIDE_PATTERNS:
        for m in pattern.finditer(name):
            i = m.start(1)
            out.append(name[:i] + _OTHER[name[i]] + name[i + 1:])
    return [n for n in dict.fromkeys(out) if n != name]


def mirror_indices(names: Sequence[str]) -> tuple[int, ...]:
    """Each name's left/right twin among ``names`` (:func:`mirror_name_candidates`), itself
    where it has none; always an involution (a pair that does not name each other back is
    left unpaired), as :attr:`pose2rig.types.Skeleton.mirror` needs."""
    index = {n: i for i, n in enumerate(names)}
    twin = []
    for i, n in enumerate(names):
        twin.append(next((index[c] for c in mirror_name_candidates(n) if c in index), i))
    return tuple(m if twin[m] == i else i for i, m in enumerate(twin))
