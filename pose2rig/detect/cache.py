"""The detection cache: one ``.npz`` (no pickles) holding a Keypoints2D and its key."""

from __future__ import annotations

import json
import logging
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from pose2rig.io.atomic import atomic_path
from pose2rig.skeletons import by_name
from pose2rig.types import Keypoints2D

log = logging.getLogger(__name__)

FORMAT = "pose2rig-detect-cache/2"
"""part of every key: a cache of another format is stale and detected again (2: ``world33``)"""


def cache_key(
    video: Path,
    *,
    start: float | None,
    end: float | None,
    mirror: bool,
    detector: str,
    max_jump: float,
    max_speed: float,
    reacquire_s: float,
) -> str:
    """A JSON string naming everything the cached result depends on."""
    video = Path(video).resolve()
    st = video.stat()
    return json.dumps(
        {
            "format": FORMAT,
            "video": str(video),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "start": None if start is None else float(start),
            "end": None if end is None else float(end),
            "mirror": bool(mirror),
            "detector": detector,
            "max_jump": float(max_jump),
            "max_speed": float(max_speed),
            "reacquire_s": float(reacquire_s),
        },
        sort_keys=True,
    )


def load_cache(path: str | os.PathLike[str], key: str) -> Keypoints2D | None:
    """The cached result at ``path`` when it was made for ``key``; ``None`` otherwise."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                log.info("cache %s was made for other settings; detecting again", path)
                return None
            width, height = (int(v) for v in z["image_size"])
            return Keypoints2D(
                keypoints=z["keypoints"],
                confidence=z["confidence"],
                skeleton=by_name(str(z["skeleton"])),
                image_size=(width, height),
                fps=float(z["fps"]),
                timestamps=z["timestamps"],
                landmarks33=z["landmarks33"] if "landmarks33" in z.files else None,
                world33=z["world33"] if "world33" in z.files else None,
            )
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        warnings.warn(f"cache {path} is unreadable ({e}); detecting again", stacklevel=3)
        return None


def save_cache(path: str | os.PathLike[str], key: str, kp: Keypoints2D) -> None:
    """Write ``kp`` and ``key`` to ``path`` atomically."""
    arrays = {
        "key": np.array(key),
        "keypoints": kp.keypoints,
        "confidence": kp.confidence,
        "skeleton": np.array(kp.skeleton.name),
        "image_size": np.array(kp.image_size, dtype=np.int64),
        "fps": np.array(kp.fps),
        "timestamps": kp.timestamps,
    }
    if kp.landmarks33 is not None:
        arrays["landmarks33"] = kp.landmarks33
    if kp.world33 is not None:
        arrays["world33"] = kp.world33
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
