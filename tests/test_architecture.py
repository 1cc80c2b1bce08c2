"""The layering of docs/ARCHITECTURE.md, checked on every import of every module.

The rules are read from the document's tables (which layer each module sits in, what each layer may
import, which stages build on which, which stage entry points the faces may call), so the page and
the code cannot drift apart. Imports are read with ``ast``: function-level, ``TYPE_CHECKING`` and
relative imports included.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "ARCHITECTURE.md"
LAYERS = ("core", "formats", "stages", "flow", "faces")


@dataclass(frozen=True)
class Rules:
    placement: dict[str, str]  # module or package -> layer
    stage_deps: dict[str, frozenset[str]]  # stage unit -> the stage units it may import
    entry_points: frozenset[str]  # stage modules the faces may import (exactly these)


def _section(text: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"docs/ARCHITECTURE.md has no section {title!r}"
    return m.group(1)


def _rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*-", line):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[1:]  # without the header


def _names(cell: str) -> list[str]:
    return re.findall(r"`([\w.]+)`", cell)


def read_rules(text: str) -> Rules:
    placement = {}
    for cells in _rows(_section(text, "Where each module lives")):
        (name,) = _names(cells[0])
        assert cells[1] in LAYERS, f"unknown layer {cells[1]!r} for {name}"
        placement[name] = cells[1]
    stage_deps = {}
    for cells in _rows(_section(text, "Stages that build on stages")):
        (name,) = _names(cells[0])
        stage_deps[name] = frozenset(_names(cells[1]))
    entry = frozenset(_names(_section(text, "What the faces may call")))
    layers = [c[0] for c in _rows(_section(text, "Layers, bottom to top"))]
    assert tuple(layers) == LAYERS, f"the layer table lists {layers}, the test knows {LAYERS}"
    return Rules(placement, stage_deps, entry)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, tuple[str, bool]]:
    """Every module of the package and the add-on: name -> (source text, is a package)."""
    files = sorted((REPO / "pose2rig").rglob("*.py")) + sorted((REPO / "blender_addon").glob("*.py"))
    return {module_name(p): (p.read_text(), p.name == "__init__.py") for p in files}


def imports(name: str, source: str, is_package: bool, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported module) for every import in ``source``; ``from pkg import sub`` counts as
    importing ``pkg.sub`` when that is a module, else ``pkg``."""
    package = name if is_package else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.append((node.lineno, sub if sub in known else target))
    return out


def _unit(module: str, rules: Rules) -> str | None:
    """The longest placed module or package that contains ``module`` (``pose2rig`` itself: only
    the package's ``__init__``)."""
    best = None
    for placed in rules.placement:
        inside = module.startswith(placed + ".") and placed != "pose2rig"
        if (module == placed or inside) and (best is None or len(placed) > len(best)):
            best = placed
    return best


def violations(modules: dict[str, tuple[str, bool]], rules: Rules) -> list[str]:
    """Every import that breaks the rules, and every module the document does not place."""
    known = set(modules)
    problems = []
    for name, (source, is_package) in sorted(modules.items()):
        src_unit = _unit(name, rules)
        if src_unit is None:
            problems.append(f"{name}: not placed in any layer in docs/ARCHITECTURE.md")
            continue
        src_layer = rules.placement[src_unit]
        for line, target in imports(name, source, is_package, known):
            if not (target == "pose2rig" or target.startswith("pose2rig.") or target.startswith("blender_addon")):
                continue
            dst_unit = _unit(target, rules)
            where = f"{name}:{line} imports {target}"
            if dst_unit is None:
                problems.append(f"{where}, which docs/ARCHITECTURE.md does not place")
                continue
            if dst_unit == src_unit:
                continue
            dst_layer = rules.placement[dst_unit]
            if LAYERS.index(dst_layer) > LAYERS.index(src_layer):
                problems.append(f"{where}: {src_layer} must not import {dst_layer}")
            elif src_layer == dst_layer == "stages" and dst_unit not in rules.stage_deps.get(src_unit, ()):
                problems.append(f"{where}: stage {src_unit} may not import stage {dst_unit}")
            elif src_layer == "faces" and dst_layer not in ("core", "flow", "faces") and target not in rules.entry_points:
                problems.append(f"{where}: the faces call core, flow and the entry points only, not {dst_layer}")
            elif src_layer == dst_layer == "faces":
                problems.append(f"{where}: one face must not import another")
    return problems


@pytest.fixture(scope="module")
def rules() -> Rules:
    return read_rules(DOC.read_text())


def test_every_import_follows_the_documented_layers(rules) -> None:
    problems = violations(sources(), rules)
    assert not problems, "\n".join(problems)


def test_every_placed_module_exists(rules) -> None:
    mods = set(sources())
    missing = [p for p in rules.placement if p not in mods]
    assert not missing, f"docs/ARCHITECTURE.md places modules that do not exist: {missing}"
    for stage, deps in rules.stage_deps.items():
        assert rules.placement.get(stage) == "stages", stage
        assert all(rules.placement.get(d) == "stages" for d in deps), deps
    assert all(rules.placement.get(e) == "stages" for e in rules.entry_points)


def _with(modules: dict[str, tuple[str, bool]], name: str, extra: str) -> dict[str, tuple[str, bool]]:
    source, is_package = modules[name]
    return {**modules, name: (source + "\n\n" + extra + "\n", is_package)}


@pytest.mark.parametrize(
    ("module", "extra", "needle"),
    [
        # a file format running a stage, from inside a function
        ("pose2rig.io.bvh", "def f():\n    from pose2rig.retarget import retarget", "formats must not import stages"),
        # the core reaching up to the flow, only while type checking
        ("pose2rig.types", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pose2rig.pipeline",
         "core must not import flow"),
        # two stages that must stay apart
        ("pose2rig.lift.infer", "from pose2rig.detect import detect_video", "stage pose2rig.lift may not import stage pose2rig.detect"),
        ("pose2rig.evaluate", "from pose2rig.train.loop import Trainer", "stage pose2rig.evaluate may not import stage pose2rig.train"),
        # a face reaching into a stage's insides
        ("pose2rig.cli", "def f():\n    from pose2rig.lift.infer import lift", "the faces call core, flow and the entry points only"),
        ("blender_addon.jobs", "def f():\n    from pose2rig.world import extremities", "the faces call core, flow"),
        # a relative import that climbs into a stage
        ("pose2rig.io.npz", "from ..clean import smooth", "formats must not import stages"),
        # a module that the document does not know
        ("pose2rig.geometry", "import pose2rig.nowhere", "does not place"),
    ],
)
def test_a_wrong_import_is_caught(rules, module: str, extra: str, needle: str) -> None:
    modules = sources()
    assert not violations(modules, rules)
    problems = violations(_with(modules, module, extra), rules)
    assert len(problems) == 1 and needle in problems[0], problems
    assert problems[0].startswith(module + ":")


def test_an_unplaced_module_is_caught(rules) -> None:
    modules = {**sources(), "pose2rig.newthing": ("import numpy\n", False)}
    problems = violations(modules, rules)
    assert problems == ["pose2rig.newthing: not placed in any layer in docs/ARCHITECTURE.md"]


def test_allowed_imports_pass(rules) -> None:
    """The rules are not simply 'refuse everything': documented dependencies go through."""
    modules = sources()
    for module, extra in [
        ("pose2rig.train.loop", "from pose2rig.evaluate import evaluate_lifter"),
        ("pose2rig.render_character", "from pose2rig.retarget.lbs import skin_frame"),
        ("pose2rig.cli", "from pose2rig.train import TrainConfig"),
        ("pose2rig.pipeline", "from pose2rig.lift.infer import lift"),
        ("pose2rig.io.bvh", "from pose2rig.rig import Rig"),
    ]:
        assert not violations(_with(modules, module, extra), rules), (module, extra)
