"""The command line imports only what a command uses: help imports no heavy library (issue 15).

Each case runs in a fresh interpreter, since a module once imported stays in ``sys.modules``.
The start-up time itself is measured in bench/cli_startup.py, not here.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "mediapipe", "cv2", "bpy", "pyrender", "trimesh")
COMMANDS = ("convert", "retarget", "detect", "lift", "clean", "fit", "train", "eval")

_PROBE = """
import json, sys
from click.testing import CliRunner
from pose2rig.cli import cli
result = CliRunner().invoke(cli, sys.argv[1:], prog_name="pose2rig")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r} or m.startswith("scipy.spatial"))
print(json.dumps({{"exit": result.exit_code, "output": result.output, "heavy": heavy,
                  "numpy": "numpy" in sys.modules}}))
"""


def probe(*args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=set(HEAVY)), *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_help_imports_nothing_heavy() -> None:
    out = probe("--help")
    assert out["exit"] == 0, out["output"]
    assert out["heavy"] == []
    assert out["numpy"] is False  # the listing of commands needs no numerical library at all
    for command in COMMANDS:  # every command is listed, eval (built lazily) included
        assert f"\n  {command} " in str(out["output"]), out["output"]


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_imports_nothing_heavy(command: str) -> None:
    out = probe(command, "--help")
    assert out["exit"] == 0, out["output"]
    assert out["heavy"] == [], command
    assert f"Usage: pose2rig {command} [OPTIONS]" in str(out["output"])


def test_lazy_eval_command_is_listed_and_built_as_eval() -> None:
    import click
    from click.testing import CliRunner

    from pose2rig.cli import cli
    from pose2rig.evaluate import evaluate_checkpoints

    listing = CliRunner().invoke(cli, ["--help"]).output
    line = next(ln for ln in listing.splitlines() if ln.strip().startswith("eval "))
    built = cli.get_command(click.Context(cli), "eval")
    assert built is not None and built.params  # the real command, not the option-less stand-in
    assert line.split(None, 1)[1] == built.get_short_help_str(len(line.split(None, 1)[1]))
    # its defaults still come from the library function's signature
    frame_step = inspect.signature(evaluate_checkpoints).parameters["frame_step"].default
    opt = next(p for p in built.params if p.name == "frame_step")
    assert opt.default == frame_step
    # a bad value still ends in one line naming the flag
    bad = CliRunner().invoke(cli, ["eval", "--rolls", "abc"])
    assert bad.exit_code != 0 and "--rolls" in bad.output and "Traceback" not in bad.output


def test_retarget_of_a_bvh_imports_no_extra(tmp_path) -> None:
    """Retargeting a BVH onto the bundled character runs on the core install (numpy, scipy,
    pygltflib): it imports none of the extras' libraries (tests/test_extras.py runs it in a venv
    without them)."""
    from pathlib import Path

    bvh = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "cmu" / "scaled_131_01.bvh"
    out = tmp_path / "out.glb"
    result = probe("retarget", str(bvh), "--glb", str(out), "--end", "1")
    assert result["exit"] == 0, result["output"]
    assert out.stat().st_size > 0
    extras = [m for m in result["heavy"] if not m.startswith("scipy.")]  # scipy is core
    assert extras == []  # no torch, mediapipe, cv2, bpy, pyrender, trimesh
