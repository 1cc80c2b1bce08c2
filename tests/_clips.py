"""Test clips made from the real footage in ../shared/data/video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"


def distant_person_clip(path: Path, *, scale: float = 0.25, seconds: float = 3.0) -> Path:
    """The squats clip (720x1280, 5 fps) with the woman shrunk to ``scale`` of her size, standing
    near the bottom of a frame of the clip's mean colour: a small, distant person.

    At ``scale`` 0.25, BlazePose's person detector finds her in no frame at its default 0.5
    minimum confidence, and in about half the frames at 0.3.
    """
    from pose2rig.video import VideoWriter, open_video

    with open_video(VIDEO / "tfjs_pose_squats.mp4", end=seconds) as video:
        info = video.info
        with VideoWriter(path, fps=info.fps, size=(info.width, info.height)) as out:
            for frame in video:
                canvas = np.empty_like(frame.image)
                canvas[:] = frame.image.reshape(-1, 3).mean(axis=0)
                small = cv2.resize(frame.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                y = info.height - small.shape[0] - 40
                x = (info.width - small.shape[1]) // 2
                canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
                out.write(canvas)
    return path
