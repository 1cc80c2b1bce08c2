"""The bundled lifter and character: found through importlib.resources, shipped in the wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from pose2rig.assets import bundled
from pose2rig.errors import Pose2RigError
from pose2rig.io.rigs import default_character
from pose2rig.lift.infer import default_checkpoint

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
DATA = {  # what the data packages must ship, beside their __init__.py
    "pose2rig/assets/models": {"lifter_h36m17.pt", "README.md"},
    "pose2rig/assets/character": {"mpfb2_game_engine.glb", "LICENSE.md", "README.md"},
}


def test_defaults_are_the_files_in_models_and_samples_character() -> None:
    assert default_checkpoint().samefile(REPO / "models" / "lifter_h36m17.pt")
    assert default_character().samefile(REPO / "samples" / "character" / "mpfb2_game_engine.glb")


def test_missing_bundled_file_names_it() -> None:
    with pytest.raises(Pose2RigError, match=r"nothing\.pt is missing from pose2rig\.assets\.models"):
        bundled("models", "nothing.pt")
    with pytest.raises(Pose2RigError, match=r"pose2rig\.assets\.nothing.*broken"):
        bundled("nothing", "lifter_h36m17.pt")


def test_pyproject_lists_every_package() -> None:
    """``packages`` is a list (packages.find cannot name mapped folders): a package left out of
    it would be missing from the wheel but present in an editable install."""
    on_disk = {
        ".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "pose2rig").rglob("__init__.py")
    }
    mapped = set(PYPROJECT["package-dir"])
    assert set(PYPROJECT["packages"]) == on_disk | mapped
    for folder in PYPROJECT["package-dir"].values():  # setuptools' editable finder needs them
        assert (REPO / folder / "__init__.py").is_file()


def _source_tree(dest: Path) -> Path:
    """The checkout's files as git sees them (tracked and untracked, less ignored ones), so that
    the build neither reads nor writes build/ or egg-info in the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():  # a tracked file may be deleted in the working tree
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


_CHECK = """
import json, sys
# The editable install's finder would import a module the wheel lacks from the checkout.
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
import pose2rig
from pose2rig.io.rigs import default_character, load_rig
from pose2rig.lift import load_lifter
from pose2rig.lift.infer import default_checkpoint
lifter = load_lifter()
rig = load_rig(None)
print(json.dumps({
    "package": pose2rig.__file__,
    "checkpoint": str(default_checkpoint()),
    "character": str(default_character()),
    "bones": len(rig.bone_names),
    "lifter": type(lifter).__name__,
    "modules": [m.__file__ for n, m in sys.modules.items() if n.startswith("pose2rig") and m.__file__],
}))
"""


@pytest.mark.slow
def test_wheel_ships_and_finds_the_bundled_files(tmp_path: Path) -> None:
    src = _source_tree(tmp_path / "src")
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("pose2rig-*.whl")

    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"pose2rig", wheel.name.split("-py")[0] + ".dist-info"}
    ours = {n for n in names if n.startswith("pose2rig/")}
    sources = {p.relative_to(src).as_posix() for p in (src / "pose2rig").rglob("*.py")}
    assert sources <= ours  # every module of the package
    data = {n for n in ours - sources if not n.endswith(".py")}
    assert data == {f"{d}/{f}" for d, files in DATA.items() for f in files}
    assert {f"{d}/__init__.py" for d in DATA} <= ours

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", _CHECK], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True)
    got = json.loads(run.stdout.splitlines()[-1])
    inside = site.resolve()
    assert Path(got["package"]).resolve() == inside / "pose2rig" / "__init__.py"
    assert Path(got["checkpoint"]).resolve() == inside / "pose2rig/assets/models/lifter_h36m17.pt"
    assert Path(got["character"]).resolve() == inside / "pose2rig/assets/character/mpfb2_game_engine.glb"
    assert got["lifter"] == "Lifter" and got["bones"] == 53
    assert all(Path(f).resolve().is_relative_to(inside) for f in got["modules"])
