"""The command line: version/help, and bad input ending in one clear line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CLIP = REPO / "samples" / "sports2d_demo.mp4"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    return subprocess.run(
        [sys.executable, "-m", "pose2rig.cli", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=600,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle.lower() in errors[0].lower(), errors[0]


def test_version_and_help() -> None:
    from pose2rig import __version__

    proc = run("--version")
    assert proc.returncode == 0 and __version__ in proc.stdout
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("convert", "retarget", "detect", "lift", "train", "eval"):
        assert command in proc.stdout
    # the group's description and quick start (a docstring, not a string after statements)
    assert "Turn a video of a person into animation for a 3D character." in proc.stdout
    assert "Quick start:" in proc.stdout
    assert "pose2rig convert clip.mp4 --bvh clip.bvh" in proc.stdout


def test_errors_show_the_flags_the_user_typed(tmp_path: Path) -> None:
    """The library names its arguments (fov, rig, rig_map); the command line shows its flags."""
    proc = run("convert", str(CLIP), "--bvh", str(tmp_path / "o.bvh"), "--fov", "500")
    assert_one_line_error(proc, "--fov must be between 1 and 179 degrees, got 500")
    proc = run("convert", str(CLIP), "--npz", str(tmp_path / "o.npz"), "--rig", str(tmp_path / "c.glb"))
    assert_one_line_error(proc, "--rig needs an output for the character: --fbx, --glb, --bvh, --character-preview")
    proc = run("convert", str(CLIP), "--bvh", str(tmp_path / "o.bvh"), "--rig", str(tmp_path / "c.obj"))
    assert_one_line_error(proc, "--rig ", "unsupported character file type '.obj'")
    proc = run("train", "--ema", "1.5", "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "l.pt"))
    assert_one_line_error(proc, "--ema must be in [0, 1), got 1.5")
    assert not (tmp_path / "o.bvh").exists() and not (tmp_path / "o.npz").exists()


def test_missing_video(tmp_path: Path) -> None:
    proc = run("convert", str(tmp_path / "nope.mp4"), "--bvh", str(tmp_path / "o.bvh"))
    assert_one_line_error(proc, "nope.mp4")
    assert not (tmp_path / "o.bvh").exists()


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    proc = run("convert", str(fake), "--bvh", str(tmp_path / "o.bvh"))
    assert_one_line_error(proc, "notes.mp4")


def test_empty_video_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    proc = run("detect", str(empty), "-o", str(tmp_path / "kp.npz"))
    assert_one_line_error(proc, "empty.mp4")


def test_unwritable_output_folder_fails_before_any_work(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: use a path under a file
            target = tmp_path / "afile"
            target.write_text("x")
            out = target / "o.bvh"
        else:
            out = locked / "o.bvh"
        proc = run("convert", str(CLIP), "--bvh", str(out))
        assert_one_line_error(proc, "output")
    finally:
        locked.chmod(0o700)


def test_nothing_to_write(tmp_path: Path) -> None:
    proc = run("convert", str(CLIP))
    assert_one_line_error(proc, "nothing to write")


def test_lift_rejects_npz_with_wrong_keys_and_keeps_existing_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, points=np.zeros((3, 17, 2)))
    out = tmp_path / "pose.npz"
    out.write_bytes(b"keep me")
    proc = run("lift", str(bad), "-o", str(out))
    assert_one_line_error(proc, "missing key", "keypoints2d")
    assert out.read_bytes() == b"keep me"


def test_lift_rejects_wrong_shapes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, keypoints2d=np.zeros((3, 33, 2)), confidence=np.ones((3, 33)),
             image_size=np.array([640, 480]), fps=np.float64(30))
    proc = run("lift", str(bad), "-o", str(tmp_path / "pose.npz"))
    assert_one_line_error(proc, "(T, 17, 2)")


@pytest.mark.slow
def test_detect_output_is_clean_and_quiet_is_silent(tmp_path: Path) -> None:
    out = tmp_path / "kp.npz"
    proc = run("detect", str(CLIP), "--end", "0.5", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    # MediaPipe's C++ start-up chatter does not reach the user
    for noise in ("XNNPACK", "W0000", "absl::InitializeLog", "inference_feedback_manager"):
        assert noise not in proc.stderr
    assert "wrote keypoints" in proc.stdout
    proc = run("detect", str(CLIP), "--end", "0.5", "-o", str(tmp_path / "kp2.npz"), "--quiet")
    assert proc.returncode == 0 and proc.stdout == "" and "frame/s" not in proc.stderr


def _black_clip(path: Path, n: int = 12) -> Path:
    from pose2rig.video import VideoWriter

    with VideoWriter(path, fps=10, size=(160, 120)) as w:
        for _ in range(n):
            w.write(np.zeros((120, 160, 3), np.uint8))
    return path


@pytest.mark.slow
def test_video_with_nobody_in_it(tmp_path: Path) -> None:
    clip = _black_clip(tmp_path / "black.mp4")
    out = tmp_path / "o.bvh"
    proc = run("convert", str(clip), "--bvh", str(out), "--quiet")
    assert_one_line_error(proc, "no person", "--start/--end", "--min-detection-confidence (now 0.5)")
    assert not out.exists()


def test_truncated_video_converts_what_is_there_and_says_so(tmp_path: Path) -> None:
    data = CLIP.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])  # the index is at the front: the first frames decode
    out = tmp_path / "o.bvh"
    proc = run("convert", str(cut), "--bvh", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    warnings_shown = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert any("truncated" in ln for ln in warnings_shown)
    assert len(warnings_shown) == len(set(warnings_shown))  # each said once
    from pose2rig.io.bvh import read_bvh

    assert 20 < read_bvh(out).num_frames < 230


def test_video_cut_before_its_index_is_an_error(tmp_path: Path) -> None:
    import av

    moov_last = tmp_path / "full.mp4"  # written by PyAV: the index (moov) comes at the end
    with av.open(str(moov_last), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for _ in range(20):
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), "bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(moov_last.read_bytes()[: moov_last.stat().st_size // 2])
    out = tmp_path / "o.bvh"
    out.write_text("an earlier good result")
    proc = run("convert", str(cut), "--bvh", str(out))
    assert_one_line_error(proc, "cut.mp4")
    assert out.read_text() == "an earlier good result"


@pytest.mark.slow
def test_train_command_makes_a_loadable_lifter(tmp_path: Path) -> None:
    from pose2rig.lift import load_lifter

    mocap = DATA / "mocap"
    out = tmp_path / "lifter.pt"
    proc = run(
        "train", "--data", str(mocap / "cmu" / "scaled_131_01.bvh"),
        "--data", str(mocap / "cmu_iclone" / "007_01.bvh"), "--val-subject", "7",
        "--steps", "20", "--batch", "32", "--width", "16", "--blocks", "1", "--d-width", "16",
        "--d-blocks", "1", "--checkpoint-every", "10", "--val-poses", "50",
        "--out", str(out), "--run-dir", str(tmp_path / "run"), "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    lifter = load_lifter(out)
    assert lifter.meta["config"]["width"] == 16 and lifter.meta["step"] <= 20
    assert (tmp_path / "run" / "curves.csv").exists()


def test_bad_options_are_refused_before_the_video_is_read(tmp_path: Path) -> None:
    """--height -1, --fov 0 and a detection confidence out of range are refused as the options
    are built: the video named does not even exist, and the one error line is about the option."""
    unread = tmp_path / "unread.mp4"
    for args, needle in (
        (("--height", "-1"), "--height must be a standing height in metres (0.3 to 3), got -1"),
        (("--fov", "0"), "--fov must be between 1 and 179 degrees, got 0"),
        (("--min-detection-confidence", "1.5"), "--min-detection-confidence must be between 0 and 1, got 1.5"),
    ):
        proc = run("convert", str(unread), "--bvh", str(tmp_path / "o.bvh"), *args)
        assert_one_line_error(proc, needle)
        assert "unread" not in proc.stderr
    proc = run("detect", str(unread), "-o", str(tmp_path / "kp.npz"), "--min-detection-confidence", "-0.1")
    assert_one_line_error(proc, "--min-detection-confidence must be between 0 and 1")
    proc = run("lift", str(tmp_path / "unread.npz"), "-o", str(tmp_path / "p.npz"), "--fov", "0")
    assert_one_line_error(proc, "--fov must be between 1 and 179 degrees")
    assert not any(tmp_path.glob("*.npz")) and not any(tmp_path.glob("*.bvh"))


def test_a_normal_run_prints_warnings_and_one_wrote_line_per_file(tmp_path: Path) -> None:
    """Information lines (the bundled GLB character's "bind space", the frame counts) stay out
    of a normal run; each file gets one "wrote" line; --verbose shows the information lines and
    still one "wrote" line per file; --quiet prints nothing on stdout."""
    walk = DATA / "mocap" / "bandai1" / "dataset-1_walk_normal_001.bvh"
    glb, bvh = tmp_path / "walk.glb", tmp_path / "walk.bvh"
    proc = run("retarget", str(walk), "--glb", str(glb), "--bvh", str(bvh))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"wrote bvh: {bvh}", f"wrote glb: {glb}"]
    assert all(ln.startswith("warning:") for ln in proc.stderr.splitlines() if ln.strip()), proc.stderr
    assert "bind space" not in proc.stderr
    proc = run("retarget", str(walk), "--glb", str(glb), "--bvh", str(bvh), "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert "retargeted 195 frames onto" in proc.stderr  # an information line
    both = (proc.stdout + proc.stderr).splitlines()
    for path in (glb, bvh):
        assert sum("wrote" in ln and str(path.name) in ln for ln in both) == 1, both
    proc = run("retarget", str(walk), "--glb", str(glb), "--quiet")
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout


@pytest.mark.slow
def test_the_no_person_hint_names_a_flag_that_finds_a_distant_person(tmp_path: Path) -> None:
    from _clips import distant_person_clip

    clip = distant_person_clip(tmp_path / "far.mp4")
    out = tmp_path / "kp.npz"
    proc = run("detect", str(clip), "-o", str(out))
    assert_one_line_error(proc, "no person", "lower --min-detection-confidence (now 0.5)")
    proc = run("detect", str(clip), "-o", str(out), "--min-detection-confidence", "0.3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote keypoints: {out}")
    with np.load(out) as kp:
        assert np.isfinite(kp["keypoints2d"]).all(axis=(1, 2)).sum() >= 5
