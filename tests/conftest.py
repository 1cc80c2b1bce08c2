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
