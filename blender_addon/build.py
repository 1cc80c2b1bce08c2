"""Build the add-on's installable zip files (standard library only; no Blender needed).

    python blender_addon/build.py            # dist/pose2rig_addon.zip: the extension
    python blender_addon/build.py --legacy   # dist/pose2rig_addon_legacy.zip: a legacy add-on

The extension zip holds ``blender_manifest.toml`` and the add-on's modules at its root, as
Blender's "Install from Disk" (and ``blender --command extension install-file``) expects; it is
what ``blender --command extension build`` would make from this folder. The legacy zip holds the
same modules (no manifest) in a ``pose2rig_addon/`` folder, for Blender's legacy add-on installer (the folder must
not be called ``pose2rig``: that would hide the pose2rig library from Blender's Python).
Entries are sorted and dated 1980-01-01, so the same sources give the same bytes.

The zips also hold ``defaults.py``, written here from :mod:`pose2rig.options` (the one source of
the library's defaults): the panel's default height, smoothing and root motion (the ``blender``
preset's: the add-on keys an armature in Blender), and the clean-up's switches (every boolean
field of ``CleanOptions``, with its default and its help from the class's ``Attributes:`` block,
the same text ``pose2rig convert --help`` shows) and the camera's pitch (``WorldOptions``' default,
None: found from the video, and its help), so that the add-on agrees with ``pose2rig convert``
even where the library is absent (executable mode). That module needs only the standard library;
it is read from this checkout.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LEGACY_FOLDER = "pose2rig_addon"


DEFAULTS_MODULE = "defaults.py"


def panel_defaults() -> dict[str, object]:
    """The panel's defaults, from :mod:`pose2rig.options` in this checkout."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from pose2rig.options import (
        HEIGHT_RANGE,
        PRESET_ROOT_MOTION,
        ROOT_MOTIONS,
        SMOOTHING,
        CleanOptions,
        LiftOptions,
        WorldOptions,
        attribute_docs,
    )

    switches = clean_switches()
    pitch_help = attribute_docs(WorldOptions).get("camera_pitch")
    if not pitch_help:
        raise RuntimeError("WorldOptions.camera_pitch has no line in the class's Attributes: block")
    return {
        "height": LiftOptions.height,
        "height_range": HEIGHT_RANGE,
        "smooth": CleanOptions.smooth,
        "smoothing": SMOOTHING,
        "root_motion": PRESET_ROOT_MOTION["blender"],
        "root_motions": ROOT_MOTIONS,
        "clean_switches": {name: default for name, (default, _) in switches.items()},
        "clean_help": {name: text for name, (_, text) in switches.items()},
        "camera_pitch": WorldOptions.camera_pitch,
        "camera_pitch_help": pitch_help,
    }


def clean_switches() -> dict[str, tuple[bool, str]]:
    """Each boolean field of ``CleanOptions`` (a clean-up step that can be switched off), in the
    class's order (the steps' order) -> (its default, its help from the ``Attributes:`` block)."""
    import dataclasses
    import typing

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from pose2rig.options import CleanOptions, attribute_docs

    hints = typing.get_type_hints(CleanOptions)
    docs = attribute_docs(CleanOptions)
    out: dict[str, tuple[bool, str]] = {}
    for f in dataclasses.fields(CleanOptions):
        if hints[f.name] is bool:
            if not docs.get(f.name):
                raise RuntimeError(f"CleanOptions.{f.name} has no line in the class's Attributes: block")
            out[f.name] = (bool(f.default), docs[f.name])
    return out


def defaults_source() -> str:
    """``defaults.py`` of the add-on: :func:`panel_defaults` as Python literals."""
    lines = [
        '"""The panel\'s defaults, written by blender_addon/build.py from pose2rig.options; do not edit."""',
        "",
        "DEFAULTS = {",
        *(f"    {k!r}: {v!r}," for k, v in panel_defaults().items()),
        "}",
        "",
    ]
    return "\n".join(lines)


def sources(*, legacy: bool = False) -> list[tuple[Path, str]]:
    """(file, name in the zip) for every file the add-on ships, sorted; the legacy add-on has
    no manifest (``bl_info`` describes it)."""
    files = [p for p in sorted(HERE.glob("*.py")) if p.name != "build.py"]
    if not legacy:
        files.append(HERE / "blender_manifest.toml")
    out = [(p, p.name) for p in files]
    if (ROOT / "LICENSE").is_file():
        out.append((ROOT / "LICENSE", "LICENSE"))
    return sorted(out, key=lambda t: t[1])


def build(out: str | os.PathLike[str] | None = None, *, legacy: bool = False) -> Path:
    """Write the zip (atomically) and return its path."""
    name = "pose2rig_addon_legacy.zip" if legacy else "pose2rig_addon.zip"
    target = Path(out) if out is not None else ROOT / "dist" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{LEGACY_FOLDER}/" if legacy else ""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".part.zip", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            entries = [(arcname, path.read_bytes()) for path, arcname in sources(legacy=legacy)]
            entries.append((DEFAULTS_MODULE, defaults_source().encode()))
            for arcname, data in sorted(entries):
                info = zipfile.ZipInfo(prefix + arcname, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                z.writestr(info, data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--legacy", action="store_true", help="a legacy add-on zip instead of an extension")
    parser.add_argument("-o", "--output", help="the zip to write (default: dist/pose2rig_addon[_legacy].zip)")
    args = parser.parse_args(argv)
    print(f"wrote {build(args.output, legacy=args.legacy)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
