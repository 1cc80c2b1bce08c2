"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import sys

import pytest


@pytest.fixture(scope="session")
def bpy(tmp_path_factory):
    """Blender as a module, with its user folder in a temporary directory (``import bpy`` writes
    there). The ``blender`` extra is part of every install: a missing bpy fails, never skips."""
    if "bpy" not in sys.modules:
        os.environ["BLENDER_USER_RESOURCES"] = str(tmp_path_factory.mktemp("blender_user"))
    import bpy as module

    return module


@pytest.fixture(scope="session")
def clip_detections(tmp_path_factory):
    """MediaPipe on each real clip of ../shared/data/video, detected once per test session with
    the default detection options: ``clip name -> (video, cache file, Keypoints2D)``. Each cache
    file is ``convert``'s own (:func:`pose2rig.detect.detect_video`'s ``cache``), so a ``convert``
    whose outputs lie beside a copy of it named ``<clip>.keypoints.npz`` reads it instead of
    detecting again. The demo clip is read from ``samples/sports2d_demo.mp4``, the same bytes as
    the data's copy (the README's quick start converts it; a cache is keyed by the video's path)."""
    from pathlib import Path

    from pose2rig.detect import detect_video
    from pose2rig.options import DetectOptions

    repo = Path(__file__).resolve().parents[1]
    data = repo.parent / "shared" / "data" / "video"
    folder = tmp_path_factory.mktemp("clip_detections")
    d = DetectOptions()
    out = {}
    for video in sorted(data.glob("*.mp4")):
        sample = repo / "samples" / video.name
        if sample.is_file() and sample.read_bytes() == video.read_bytes():
            video = sample
        cache = folder / f"{video.stem}.keypoints.npz"
        kp = detect_video(video, start=d.start, end=d.end, mirror=d.mirror, cache=cache,
                          min_detection_confidence=d.min_detection_confidence, progress=False)
        out[video.stem] = (video, cache, kp)
    return out
