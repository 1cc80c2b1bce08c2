"""The extras of the install (pose2rig/extras.py): a missing one is one line naming its pip install,
and the core install alone retargets a BVH onto the bundled character (issue 15)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pose2rig.errors import Pose2RigError
from pose2rig.extras import EXTRAS, require, require_extra

REPO = Path(__file__).resolve().parents[1]
BVH = REPO.parent / "shared" / "data" / "mocap" / "cmu" / "scaled_131_01.bvh"  # 120 fps, metres
CHARACTER = REPO / "samples" / "character" / "mpfb2_game_engine.glb"
CLIP = REPO / "samples" / "sports2d_demo.mp4"


def test_require_returns_the_module() -> None:
    assert require("json", "video") is json


def test_require_names_the_extra_and_its_pip_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ModuleNotFoundError
    with pytest.raises(Pose2RigError) as e:
        require("torch", "video")
    assert str(e.value) == ("detecting and lifting a person in a video needs the [video] extra "
                            "(torch is not installed): pip install 'pose2rig[video]'")


def test_require_says_when_an_installed_module_does_not_import(monkeypatch, tmp_path) -> None:
    (tmp_path / "p2r_broken_gl.py").write_text(
        "raise ImportError('libGL.so.1: cannot open shared object file:\\n No such file')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(Pose2RigError) as e:
        require("p2r_broken_gl", "preview")
    assert str(e.value) == (
        "a preview video needs the [preview] extra, and p2r_broken_gl is installed but does not "
        "import (libGL.so.1: cannot open shared object file: No such file): reinstall it with "
        "pip install 'pose2rig[preview]'")
    assert "\n" not in str(e.value)


def test_require_extra_names_the_first_missing_module_without_importing(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(Pose2RigError, match=r"\(av is not installed\): pip install 'pose2rig\[video\]'$"):
        require_extra("video")
    monkeypatch.delitem(sys.modules, "av")
    before = set(sys.modules)
    require_extra("blender")  # bpy is installed (every test install has the blender extra) ...
    assert "bpy" not in set(sys.modules) - before  # ... and only looked for, not imported


def test_every_extra_of_the_library_is_in_pyproject() -> None:
    import tomllib

    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(EXTRAS) <= set(optional)
    everything = optional["all"][0]
    assert everything.startswith("pose2rig[") and set(everything[9:-1].split(",")) == set(EXTRAS)
    core = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert all("==" in r for r in core) and not any(r.split("==")[0] in {"torch", "mediapipe"} for r in core)


_BLOCKED = """
import sys
sys.modules[{module!r}] = None  # as if the extra were not installed
from pose2rig.cli import main
sys.argv = ["pose2rig", *sys.argv[1:]]
main()
"""


def _run_without(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BLOCKED.format(module=module), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("module", "command", "extra"), [
    ("torch", ["convert", str(CLIP), "--bvh", "{tmp}/out.bvh"], "video"),
    ("cv2", ["convert", str(CLIP), "--bvh", "{tmp}/out.bvh"], "video"),
    ("mediapipe", ["detect", str(CLIP), "-o", "{tmp}/out.npz"], "video"),
    ("torch", ["lift", "{tmp}/in.npz", "-o", "{tmp}/out.npz"], "video"),
    ("pyrender", ["retarget", str(BVH), "--glb", "{tmp}/out.glb", "--preview", "{tmp}/out.mp4"], "preview"),
    ("bpy", ["retarget", str(BVH), "--fbx", "{tmp}/out.fbx"], "blender"),
    ("torch", ["fit", str(BVH), "-o", "{tmp}/out.npz"], "body"),
    ("anny", ["fit", str(BVH), "-o", "{tmp}/out.npz"], "body"),
    ("torch", ["train", "--out", "{tmp}/out.pt"], "train"),
    ("torch", ["eval", "--data", str(BVH)], "train"),
])
def test_a_missing_extra_is_one_line_and_exit_1(tmp_path, module, command, extra) -> None:
    (tmp_path / "in.npz").write_bytes(b"")  # lift's SOURCE must exist; the extra is checked first
    proc = _run_without(module, *(a.format(tmp=tmp_path) for a in command), cwd=tmp_path)
    purpose = EXTRAS[extra][0]
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (f"error: {purpose} needs the [{extra}] extra ({module} is not installed): "
                           f"pip install 'pose2rig[{extra}]'\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz"]  # before any work: nothing written


@pytest.mark.slow
def test_core_install_retargets_a_bvh_without_any_extra(tmp_path) -> None:
    """``pip install .`` in a fresh venv: no torch, MediaPipe, bpy or OpenCV, and ``pose2rig
    retarget`` of a real CMU clip onto the bundled character writes the same GLB as the full
    install does."""
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "out", "runs", "*.egg-info", "__pycache__", ".*_cache"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    start = time.perf_counter()
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(source)], capture_output=True,
                         text=True, timeout=900)
    took = time.perf_counter() - start
    assert pip.returncode == 0, pip.stderr
    listed = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=json"], capture_output=True,
                            text=True, check=True, timeout=300)
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "pose2rig" in installed and {"numpy", "scipy", "click", "pygltflib", "tqdm"} <= installed
    heavy = {"torch", "mediapipe", "bpy", "opencv-contrib-python", "opencv-python", "av", "pyrender",
             "trimesh", "anny", "jax", "matplotlib", "smplx"}
    assert installed & heavy == set(), f"installed in {took:.0f} s: {sorted(installed)}"

    out = tmp_path / "out.glb"
    args = ["retarget", str(BVH), "--rig", str(CHARACTER), "--glb", str(out), "--end", "2"]
    proc = subprocess.run([str(venv / "bin" / "pose2rig"), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote glb: {out}"

    from pose2rig.io.bvh import read_bvh
    from pose2rig.io.gltf import read_glb_animation
    from pose2rig.io.rigs import load_rig
    from pose2rig.options import ConvertOptions, Outputs
    from pose2rig.pipeline import retarget_file

    core = read_glb_animation(out)
    motion = read_bvh(BVH)
    # 0 <= t < 2 s at 120 fps: 240 frames (the file's frame time 0.008333 is 1/120 rounded)
    assert abs(motion.frame_time - 1 / 120) < 1e-6 and core.num_frames == 240
    assert core.rig.bone_names == load_rig(CHARACTER).bone_names
    full = tmp_path / "full.glb"  # the same command in this, the full, install
    retarget_file(BVH, Outputs(glb=full), ConvertOptions.from_flat(rig=CHARACTER, end=2.0), progress=False)
    expected = read_glb_animation(full)
    np.testing.assert_allclose(core.world_matrices(), expected.world_matrices(), atol=1e-6)
