"""BVH motion files: a pure Python + numpy reader, writer and forward kinematics.

Convention:
    - Rotation channels compose as written: ``Zrotation Xrotation Yrotation`` with angles
      ``(a, b, c)`` gives the local rotation ``Rz(a) @ Rx(b) @ Ry(c)`` (see
      :func:`pose2rig.geometry.euler_to_matrix`); angles in the file are degrees.
    - A joint's local translation is its ``OFFSET``, unless the joint has position channels: then
      the channels *replace* the offset (Blender's importer and the Bandai-Namco data do this; the
      Bandai files give every joint 6 channels whose positions repeat the offsets).
    - World position of joint ``j``: ``p_j = p_parent + R_parent @ t_j``; world rotation
      ``R_j = R_parent @ L_j``. The root has no parent: ``p_root = t_root``.
    - Lengths stay in file units; :func:`detect_unit_scale` says how many metres one unit is.
      The file's axes are kept as they are (BVH is Y up by custom).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pose2rig.errors import Pose2RigError
from pose2rig.geometry import euler_to_matrix
from pose2rig.io.atomic import atomic_path
from pose2rig.rig import forward_kinematics
from pose2rig.skeletons.names import match_bones, mirror_indices
from pose2rig.types import Skeleton

log = logging.getLogger(__name__)

_POSITION = ("Xposition", "Yposition", "Zposition")
_ROTATION = ("Xrotation", "Yrotation", "Zrotation")
_VALID_CHANNELS = frozenset(_POSITION + _ROTATION)


@dataclass(frozen=True)
class BvhMotion:
    """A BVH skeleton and its motion.

    Attributes:
        names: joint names (end sites excluded); parents precede children.
        parents: parent index of each joint, ``-1`` for the root.
        offsets: ``(J, 3)`` float64 rest offsets from the parent, in file units.
        channels: each joint's channel names in file order, e.g.
            ``("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")``.
        end_sites: joint index -> ``(3,)`` end-site offset, for joints that end in one.
        motion: ``(T, C)`` float64, columns in file order; rotations in degrees.
        frame_time: seconds per frame.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)
    motion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    frame_time: float = 1.0 / 30.0

    def __post_init__(self) -> None:
        j = len(self.names)
        if j == 0:
            raise Pose2RigError("BVH motion: expected at least one joint, got none")
        if len(self.parents) != j or len(self.channels) != j:
            raise Pose2RigError(
                f"BVH motion: {j} names but {len(self.parents)} parents and "
                f"{len(self.channels)} channel lists"
            )
        if self.parents[0] != -1 or any(not 0 <= p < i for i, p in enumerate(self.parents) if i):
            raise Pose2RigError(
                "BVH motion: expected joint 0 to be the root and every parent to precede its "
                f"child, got parents {self.parents}"
            )
        offsets = np.asarray(self.offsets, dtype=np.float64)
        if offsets.shape != (j, 3) or not np.all(np.isfinite(offsets)):
            raise Pose2RigError(f"BVH motion: expected finite offsets ({j}, 3), got {offsets.shape}")
        for i, ch in enumerate(self.channels):
            bad = [c for c in ch if c not in _VALID_CHANNELS]
            if bad or len(set(ch)) != len(ch):
                raise Pose2RigError(
                    f"BVH joint {self.names[i]!r}: expected distinct channels among "
                    f"{', '.join(_POSITION + _ROTATION)}, got {' '.join(ch)}"
                )
        c = sum(len(ch) for ch in self.channels)
        motion = np.asarray(self.motion, dtype=np.float64)
        if motion.ndim != 2 or motion.shape[1] != c:
            raise Pose2RigError(f"BVH motion: expected motion (T, {c}), got {motion.shape}")
        if not np.all(np.isfinite(motion)):
            raise Pose2RigError("BVH motion: motion values contain NaN or infinity")
        ft = float(self.frame_time)
        if not math.isfinite(ft) or ft <= 0:
            raise Pose2RigError(f"BVH motion: expected a positive frame time, got {ft}")
        ends = {}
        for k, v in dict(self.end_sites).items():
            if not 0 <= int(k) < j:
                raise Pose2RigError(f"BVH motion: end site on joint {k}, but there are {j} joints")
            ends[int(k)] = np.asarray(v, dtype=np.float64).reshape(3)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "motion", motion)
        object.__setattr__(self, "frame_time", ft)
        object.__setattr__(self, "end_sites", ends)
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        object.__setattr__(self, "channels", tuple(tuple(ch) for ch in self.channels))

    # ----------------------------------------------------------------------------- properties
    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        """Index of joint ``name``; raises :class:`Pose2RigError` naming the joints there are."""
        try:
            return self.names.index(name)
        except ValueError:
            raise Pose2RigError(
                f"BVH has no joint {name!r}; it has {', '.join(self.names)}"
            ) from None

    def channel_columns(self) -> list[np.ndarray]:
        """Column indices into :attr:`motion` of each joint's channels."""
        out, start = [], 0
        for ch in self.channels:
            out.append(np.arange(start, start + len(ch)))
            start += len(ch)
        return out

    # ----------------------------------------------------------------------------- kinematics
    def local_transforms(self, *, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame local translations ``(T, J, 3)`` (scaled) and rotations ``(T, J, 3, 3)``."""
        t = self.num_frames
        j = self.num_joints
        trans = np.broadcast_to(self.offsets, (t, j, 3)).copy()
        rots = np.broadcast_to(np.eye(3), (t, j, 3, 3)).copy()
        for i, (ch, cols) in enumerate(zip(self.channels, self.channel_columns())):
            pos = [(c, col) for c, col in zip(ch, cols) if c in _POSITION]
            for c, col in pos:
                trans[:, i, _POSITION.index(c)] = self.motion[:, col]
            rot = [(c[0], col) for c, col in zip(ch, cols) if c in _ROTATION]
            if len(rot) == 3:
                order = "".join(a for a, _ in rot)
                angles = self.motion[:, [col for _, col in rot]]
                rots[:, i] = euler_to_matrix(angles, order, degrees=True)
            else:  # one or two rotation channels: compose them one by one
                for axis, col in rot:
                    rots[:, i] = rots[:, i] @ _axis_rotation(axis, np.radians(self.motion[:, col]))
        return trans * scale, rots

    def forward_kinematics(self, *, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """World positions ``(T, J, 3)`` (file units times ``scale``) and rotations ``(T, J, 3, 3)``.

        Honours each joint's channel order and position channels on any joint.
        """
        trans, rots = self.local_transforms(scale=scale)
        local = np.zeros(trans.shape[:2] + (4, 4))
        local[..., :3, :3] = rots
        local[..., :3, 3] = trans
        local[..., 3, 3] = 1.0
        world = forward_kinematics(local, self.parents)
        return world[..., :3, 3].copy(), world[..., :3, :3].copy()

    def end_site_positions(
        self,
        *,
        scale: float = 1.0,
        fk: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[int, np.ndarray]:
        """World positions of the end sites: joint index -> ``(T, 3)``.

        ``fk``: the result of :meth:`forward_kinematics` with the same ``scale``, to reuse it.
        """
        pos, world = self.forward_kinematics(scale=scale) if fk is None else fk
        return {
            j: pos[:, j] + np.einsum("tab,b->ta", world[:, j], off * scale)
            for j, off in self.end_sites.items()
        }

    def rest_positions(self, *, scale: float = 1.0) -> np.ndarray:
        """``(J, 3)`` joint positions of the rest pose (offsets only, no channels)."""
        local = np.broadcast_to(np.eye(4), (self.num_joints, 4, 4)).copy()
        local[:, :3, 3] = self.offsets
        return forward_kinematics(local, self.parents)[:, :3, 3] * scale


def bvh_skeleton(motion: BvhMotion, *, name: str = "bvh") -> Skeleton:
    """The :class:`~pose2rig.types.Skeleton` of a BVH: its joints (end sites left out) in file
    order, their parents, and left/right twins found from the names
    (:func:`pose2rig.skeletons.names.mirror_indices`: ``LeftArm``/``RightArm``,
    ``Hand_L``/``Hand_R``, ``CC_Base_L_Thigh``/``CC_Base_R_Thigh``, ``LHipJoint``/``RHipJoint``,
    ``lhand``/``rhand``; a joint without a twin mirrors itself).

    Its joints line up with :meth:`BvhMotion.forward_kinematics`' columns.
    """
    return Skeleton(name, motion.names, motion.parents, mirror_indices(motion.names))


def _axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    order = {"X": "XYZ", "Y": "YZX", "Z": "ZXY"}[axis]
    a = np.zeros(angle.shape + (3,))
    a[..., 0] = angle
    return euler_to_matrix(a, order)


# --------------------------------------------------------------------------------- reading
class _Tokens:
    def __init__(self, text: str, path: Path) -> None:
        self.lines = text.splitlines()
        self.path = path
        self.items: list[tuple[str, int]] = []
        self.pos = 0

    def fill(self, lines: list[str], first_line: int) -> None:
        for n, line in enumerate(lines, start=first_line):
            for tok in line.split():
                self.items.append((tok, n))

    def next(self, what: str) -> str:
        if self.pos >= len(self.items):
            raise Pose2RigError(f"{self.path}: truncated BVH: expected {what}, reached the end")
        tok = self.items[self.pos][0]
        self.pos += 1
        return tok

    def line(self) -> int:
        return self.items[min(self.pos, len(self.items) - 1)][1] if self.items else 0

    def expect(self, word: str) -> None:
        tok = self.next(repr(word))
        if tok != word:
            raise Pose2RigError(
                f"{self.path}:{self.items[self.pos - 1][1]}: expected {word!r}, got {tok!r}"
            )

    def number(self, what: str) -> float:
        tok = self.next(what)
        try:
            v = float(tok)
        except ValueError:
            raise Pose2RigError(
                f"{self.path}:{self.items[self.pos - 1][1]}: expected a number for {what}, "
                f"got {tok!r}"
            ) from None
        if not math.isfinite(v):
            raise Pose2RigError(
                f"{self.path}:{self.items[self.pos - 1][1]}: {what} is {tok}, expected a finite "
                "number"
            )
        return v


def read_bvh(path: str | os.PathLike[str]) -> BvhMotion:
    """Read a BVH file (any channel order, position channels on any joint).

    Raises :class:`Pose2RigError` naming the problem for a missing or non-BVH file, a truncated
    hierarchy, a missing ``MOTION`` section, a frame count that disagrees with the data, and NaN
    or non-numeric values.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise Pose2RigError(f"cannot read BVH file {p}: {e.strerror}") from None
    if b"\x00" in raw[:4096]:
        raise Pose2RigError(f"{p}: expected a BVH text file starting with HIERARCHY, got binary data")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if not first.upper().startswith("HIERARCHY"):
        raise Pose2RigError(
            f"{p}: expected a BVH file starting with HIERARCHY, got {first[:40]!r}"
        )
    motion_at = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
    if motion_at is None:
        raise Pose2RigError(f"{p}: BVH has no MOTION section (truncated file?)")
    toks = _Tokens(text, p)
    toks.fill(lines[:motion_at], 1)

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    end_sites: dict[int, np.ndarray] = {}

    toks.expect("HIERARCHY")
    kind = toks.next("ROOT")
    if kind.upper() != "ROOT":
        raise Pose2RigError(f"{p}:{toks.line()}: expected ROOT after HIERARCHY, got {kind!r}")

    def parse_joint(parent: int) -> None:
        name = toks.next("a joint name")
        index = len(names)
        names.append(name)
        parents.append(parent)
        toks.expect("{")
        offsets.append([0.0, 0.0, 0.0])
        channels.append(())
        while True:
            tok = toks.next(f"'}}' closing joint {name!r}")
            up = tok.upper()
            if tok == "}":
                return
            if up == "OFFSET":
                offsets[index] = [toks.number(f"OFFSET of {name!r}") for _ in range(3)]
            elif up == "CHANNELS":
                n = toks.number(f"channel count of {name!r}")
                if n != int(n) or not 0 <= n <= 6:
                    raise Pose2RigError(f"{p}:{toks.line()}: joint {name!r}: bad channel count {n}")
                ch = tuple(toks.next(f"a channel of {name!r}") for _ in range(int(n)))
                bad = [c for c in ch if c not in _VALID_CHANNELS]
                if bad:
                    raise Pose2RigError(
                        f"{p}:{toks.line()}: joint {name!r}: unknown channel {bad[0]!r}; expected "
                        f"one of {', '.join(_POSITION + _ROTATION)}"
                    )
                channels[index] = ch
            elif up == "JOINT":
                parse_joint(index)
            elif up == "END":
                toks.expect("Site")
                toks.expect("{")
                toks.expect("OFFSET")
                end_sites[index] = np.array(
                    [toks.number(f"end-site OFFSET of {name!r}") for _ in range(3)]
                )
                toks.expect("}")
            else:
                raise Pose2RigError(
                    f"{p}:{toks.items[toks.pos - 1][1]}: unexpected {tok!r} in joint {name!r}; "
                    "expected OFFSET, CHANNELS, JOINT, End Site or '}'"
                )

    parse_joint(-1)
    if toks.pos != len(toks.items):
        raise Pose2RigError(
            f"{p}:{toks.line()}: expected MOTION after the hierarchy, got {toks.items[toks.pos][0]!r}"
            " (more than one ROOT is not supported)"
        )

    # ---- MOTION: "Frames: N", "Frame Time: t", then N rows of C numbers
    num_channels = sum(len(c) for c in channels)
    rest = lines[motion_at + 1 :]
    frames, frame_time, data_at = None, None, None
    for k, ln in enumerate(rest):
        s = ln.strip()
        if not s:
            continue
        low = s.lower()
        if low.startswith("frames:"):
            try:
                frames = int(s.split(":", 1)[1])
            except ValueError:
                raise Pose2RigError(f"{p}: bad 'Frames:' line {s!r}; expected an integer") from None
        elif low.startswith("frame time:"):
            try:
                frame_time = float(s.split(":", 1)[1])
            except ValueError:
                raise Pose2RigError(f"{p}: bad 'Frame Time:' line {s!r}; expected seconds") from None
            data_at = k + 1
            break
        else:
            raise Pose2RigError(f"{p}: expected 'Frames:' and 'Frame Time:' after MOTION, got {s[:40]!r}")
    if frames is None or frame_time is None or data_at is None:
        raise Pose2RigError(f"{p}: BVH MOTION section lacks 'Frames:' or 'Frame Time:' (truncated?)")
    if frames < 0:
        raise Pose2RigError(f"{p}: negative frame count {frames}")
    if not math.isfinite(frame_time) or frame_time <= 0:
        raise Pose2RigError(f"{p}: expected a positive Frame Time, got {frame_time}")
    rows = [ln for ln in rest[data_at:] if ln.strip()]
    if len(rows) != frames:
        raise Pose2RigError(
            f"{p}: header says {frames} frames but the file has {len(rows)} rows of motion data"
            + (" (truncated file?)" if len(rows) < frames else "")
        )
    try:
        data = np.array(" ".join(rows).split(), dtype=np.float64)
    except ValueError as e:
        raise Pose2RigError(f"{p}: non-numeric motion data ({e})") from None
    if data.size != frames * num_channels:
        counts = [len(r.split()) for r in rows]
        bad = next(i for i, c in enumerate(counts) if c != num_channels)
        raise Pose2RigError(
            f"{p}: expected {num_channels} values per frame (from the CHANNELS), frame {bad} has "
            f"{counts[bad]}"
        )
    data = data.reshape(frames, num_channels)
    if not np.all(np.isfinite(data)):
        bad_frame = int(np.argwhere(~np.isfinite(data))[0, 0])
        raise Pose2RigError(f"{p}: motion data contains NaN or infinity (first in frame {bad_frame})")
    log.debug("read %s: %d joints, %d frames at %.3f fps", p, len(names), frames, 1 / frame_time)
    return BvhMotion(
        names=tuple(names),
        parents=tuple(parents),
        offsets=np.asarray(offsets, dtype=np.float64),
        channels=tuple(channels),
        end_sites=end_sites,
        motion=data,
        frame_time=frame_time,
    )


# --------------------------------------------------------------------------------- writing
def _fmt(v: float) -> str:
    # repr gives the shortest text that reads back to the same float: exact round trips
    s = repr(float(v))
    return "0" if s in ("0.0", "-0.0") else s


def write_bvh(path: str | os.PathLike[str], motion: BvhMotion) -> None:
    """Write ``motion`` to ``path`` atomically; reading it back gives identical arrays."""
    children: dict[int, list[int]] = {i: [] for i in range(motion.num_joints)}
    for i, p in enumerate(motion.parents):
        if p >= 0:
            children[p].append(i)
    out: list[str] = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        ind = "\t" * depth
        out.append(f"{ind}{'ROOT' if j == 0 else 'JOINT'} {motion.names[j]}")
        out.append(f"{ind}{{")
        out.append(f"{ind}\tOFFSET " + " ".join(_fmt(v) for v in motion.offsets[j]))
        ch = motion.channels[j]
        out.append(f"{ind}\tCHANNELS {len(ch)}" + "".join(f" {c}" for c in ch))
        for c in children[j]:
            emit(c, depth + 1)
        if j in motion.end_sites:
            out.append(f"{ind}\tEnd Site")
            out.append(f"{ind}\t{{")
            out.append(f"{ind}\t\tOFFSET " + " ".join(_fmt(v) for v in motion.end_sites[j]))
            out.append(f"{ind}\t}}")
        out.append(f"{ind}}}")

    # the file lists joints depth first; our order must match so that columns line up
    order: list[int] = []

    def visit(j: int) -> None:
        order.append(j)
        for c in children[j]:
            visit(c)

    visit(0)
    if order != list(range(motion.num_joints)):
        raise Pose2RigError(
            "write_bvh: expected joints in depth-first order (each joint's subtree follows it), "
            f"got parents {motion.parents}"
        )
    emit(0, 0)
    out.append("MOTION")
    out.append(f"Frames: {motion.num_frames}")
    out.append(f"Frame Time: {_fmt(motion.frame_time)}")
    for row in motion.motion:
        out.append(" ".join(_fmt(v) for v in row))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(out) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------- units
# Metres per file unit of the units seen in the wild. CMU ASF: "length 0.45" of an inch, i.e.
# one unit is 1/0.45 inch = 5.644 cm.
KNOWN_UNITS: dict[str, float] = {
    "m": 1.0,
    "dm": 0.1,
    "cm": 0.01,
    "mm": 0.001,
    "inch": 0.0254,
    "cmu_asf": 0.0254 / 0.45,
}
_TYPICAL_HEIGHT_M = 1.7
_ANKLE_HEIGHT_FRACTION = 0.04
_HEAD_TOP_FRACTION = 0.07


def standing_height(motion: BvhMotion, *, use_names: bool = True) -> float:
    """Standing height in file units, independent of the rest pose's shape and the motion.

    Where the bone names (see :mod:`pose2rig.skeletons.names`) give a left foot (ankle) and a
    head: the bone lengths along the path ankle -> hips -> spine -> head -> head end site,
    divided by 0.96 for the ankle's height above the floor (4% of stature on average), and by
    a further 0.93 where the head has no head-top end site (Bandai's has zero length).

    Otherwise the length of the tree path (sum of bone lengths) from the lowest leaf to the highest leaf,
    leaves being end sites and childless joints, "lowest" and "highest" by their median height
    (Y) over the motion (the rest pose when there are no frames). For a person this is the path
    toe tip -> hip -> spine -> head top: a little longer than the standing height because of the
    foot and the hip offset, a little shorter where the head has no end site (Bandai's).
    Bone lengths are medians over frames, so position channels on any joint count.
    """
    j = motion.num_joints
    step = max(1, motion.num_frames // 200)
    if motion.num_frames:
        sub = BvhMotion(
            motion.names, motion.parents, motion.offsets, motion.channels, motion.end_sites,
            motion.motion[::step], motion.frame_time,
        )
        trans, _ = sub.local_transforms()
        bone = np.median(np.linalg.norm(trans, axis=-1), axis=0)
        fk = sub.forward_kinematics()
        ends = sub.end_site_positions(fk=fk)
        joint_height = np.median(fk[0][..., 1], axis=0)  # (J,)
        end_height = {k: float(np.median(v[:, 1])) for k, v in ends.items()}
    else:
        bone = np.linalg.norm(motion.offsets, axis=-1)
        rest = motion.rest_positions()
        joint_height = rest[:, 1]
        end_height = {k: float(rest[k, 1] + v[1]) for k, v in motion.end_sites.items()}
    named = match_bones(motion.names, ("left_foot", "head")) if use_names else {}
    if len(named) == 2:
        # ankle -> head (end site included); + ankle height, about 4% of standing height
        head = named["head"]
        low = (named["left_foot"], 0.0, 0.0)
        top = float(np.linalg.norm(motion.end_sites.get(head, np.zeros(3))))
        high = (head, top, 0.0)
        # no head-top point (Bandai's head end site has zero length): the head top is about 7%
        # of stature above the head joint
        missing = _ANKLE_HEIGHT_FRACTION + (_HEAD_TOP_FRACTION if top < 1e-6 else 0.0)
        grow = 1.0 / (1.0 - missing)
    else:
        has_child = {p for p in motion.parents if p >= 0}
        # leaves as (joint, extra length beyond the joint, height)
        leaves = [(k, float(np.linalg.norm(motion.end_sites[k])), h) for k, h in end_height.items()]
        leaves += [
            (i, 0.0, float(joint_height[i])) for i in range(j) if i not in has_child and i not in end_height
        ]
        low = min(leaves, key=lambda x: x[2])
        high = max(leaves, key=lambda x: x[2])
        grow = 1.0

    def chain(i: int) -> list[int]:
        out = []
        while i >= 0:
            out.append(i)
            i = motion.parents[i]
        return out

    a, b = chain(low[0]), chain(high[0])
    common = set(a) & set(b)
    length = low[1] + high[1]
    for c in (a, b):
        for i in c:
            if i in common:
                break
            length += float(bone[i])  # the bone from i's parent to i
    return length * grow


def detect_unit_scale(motion: BvhMotion) -> float:
    """Metres per file unit, from the standing height.

    Picks among :data:`KNOWN_UNITS` the unit that makes the subject's height closest to 1.7 m
    (log scale); warns and scales to 1.7 m when none gives 0.9-2.5 m.
    """
    h = standing_height(motion)
    if not h > 0:
        raise Pose2RigError("BVH: cannot detect units: the skeleton has zero height")
    name, unit = min(KNOWN_UNITS.items(), key=lambda kv: abs(math.log(h * kv[1] / _TYPICAL_HEIGHT_M)))
    if not 0.9 <= h * unit <= 2.5:
        warnings.warn(
            f"BVH units unclear: standing height {h:.4g} file units fits no known unit; "
            f"scaling it to {_TYPICAL_HEIGHT_M} m",
            stacklevel=2,
        )
        return _TYPICAL_HEIGHT_M / h
    log.debug("BVH height %.4g units -> unit %s (%.3f m)", h, name, h * unit)
    return unit
