"""bench/convert_speed.py: the stages run's marks and import lines are read into own times."""

from __future__ import annotations

import pytest
from _bench_module import bench_module

STDERR = """\
@@stage enter start-up imports
import time: self [us] | cumulative | imported package
import time:        50 |         50 |   numpy.core
import time:       100 |        500 | numpy
@@stage exit start-up imports 0.600000
Created TensorFlow Lite XNNPACK delegate for CPU.
@@stage enter convert (rest)
@@stage enter decode+detect
import time:      1000 |     200000 | mediapipe.python
@@stage enter graph build
@@stage exit graph build 0.300000
@@stage enter graph build
@@stage exit graph build 0.010000
@@stage exit decode+detect 2.000000
@@stage enter clean-up (3D)
@@stage enter clean-up (3D)
@@stage exit clean-up (3D) 0.250000
@@stage exit clean-up (3D) 0.750000
@@stage exit convert (rest) 3.000000
import time:       300 |      40000 | numpy.linalg
"""


def test_parse_stages_takes_nested_stages_and_imports_out():
    own, imports = bench_module("convert_speed").parse_stages(STDERR)
    assert own == pytest.approx({
        "start-up imports": 0.6 - 0.0005,
        "graph build": 0.31,
        "decode+detect": 2.0 - 0.2 - 0.31,
        "clean-up (3D)": 0.75,  # the nested one's 0.25 and the outer's own 0.5
        "convert (rest)": 3.0 - 2.0 - 0.75,
    })
    assert imports == pytest.approx({"numpy": 0.0005 + 0.04, "mediapipe": 0.2})
