"""pose2rig.options: the one source of convert's defaults, checks and help text."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import click
import pytest

from pose2rig.errors import ArgumentError, Pose2RigError
from pose2rig.options import (
    FIELD_GROUP,
    GROUPS,
    CleanOptions,
    ConvertOptions,
    DetectOptions,
    ExportOptions,
    LiftOptions,
    Outputs,
    WorldOptions,
)


def test_every_option_name_is_unique_over_the_groups() -> None:
    names = [f.name for _, cls in GROUPS for f in dataclasses.fields(cls)]
    assert len(names) == len(set(names))
    assert set(FIELD_GROUP) == set(names)
    assert [g for g, _ in GROUPS] == [f.name for f in dataclasses.fields(ConvertOptions)]


def test_from_flat_puts_each_option_in_its_group_and_replace_keeps_the_rest() -> None:
    o = ConvertOptions.from_flat(height=1.8, smooth="none", rig_map="m.json", root_motion="off", end=2.0)
    assert o.lift == LiftOptions(height=1.8)
    assert o.clean == CleanOptions(smooth="none")
    assert o.export.rig_map == Path("m.json") and isinstance(o.export.rig_map, Path)
    assert o.world == WorldOptions(root_motion="off")
    assert o.detect == DetectOptions(end=2.0)
    again = o.replace(fov=70.0)
    assert again.lift == LiftOptions(height=1.8, fov=70.0) and again.clean == o.clean
    assert ConvertOptions.from_flat(**o.flat()) == o
    with pytest.raises(ArgumentError, match="unknown option.*heigth"):
        ConvertOptions.from_flat(heigth=1.8)


@pytest.mark.parametrize(
    ("values", "argument", "text"),
    [
        ({"fov": 500.0}, "fov", "fov must be between 1 and 179 degrees, got 500.0"),
        ({"height": 5.0}, "height", "height must be a standing height in metres (0.3 to 3), got 5.0"),
        ({"height": float("nan")}, "height", "height must be a standing height"),
        ({"fps": 0.0}, "fps", "fps must be in (0, 240], got 0.0"),
        ({"units": "mm"}, "units", "units must be one of cm, m, got 'mm'"),
        ({"preset": "maya"}, "preset", "preset must be one of blender, unity, unreal"),
        ({"smooth": "kalman"}, "smooth", "smooth must be one of one_euro, savgol, none"),
        ({"min_cutoff": 0.0}, "min_cutoff", "min_cutoff must be positive"),
        ({"max_gap": -1.0}, "max_gap", "max_gap must be >= 0"),
        ({"start": 3.0, "end": 2.0}, "end", "end (2.0 s) must come after start (3.0 s)"),
    ],
)
def test_bad_values_name_the_argument_not_a_flag(values, argument: str, text: str) -> None:
    with pytest.raises(ArgumentError) as e:
        ConvertOptions.from_flat(**values)
    assert isinstance(e.value, Pose2RigError)
    assert text in str(e.value) and "--" not in str(e.value)
    assert argument in e.value.arguments
    flag = "--" + argument.replace("_", "-")
    assert e.value.render({argument: flag}).startswith(str(e.value).split(argument, 1)[0] + flag)


def test_stage_functions_take_their_defaults_from_the_options() -> None:
    """Defaults live once: the stages' keyword defaults are the options' own."""
    from pose2rig.clean import fill_gaps, smooth
    from pose2rig.lift import lift
    from pose2rig.retarget import retarget, solve_bvh
    from pose2rig.types import Camera
    from pose2rig.world import to_world

    def defaults(f):
        return {k: p.default for k, p in inspect.signature(f).parameters.items()}

    d = ConvertOptions()
    assert defaults(lift)["height"] == d.lift.height and defaults(lift)["fov"] == d.lift.fov
    assert defaults(Camera.from_fov)["fov_deg"] == d.lift.fov
    s = defaults(smooth)
    assert (s["method"], s["min_cutoff"], s["beta"], s["window"]) == (
        d.clean.smooth, d.clean.min_cutoff, d.clean.beta, d.clean.window)
    assert defaults(fill_gaps)["max_gap"] == d.clean.max_gap
    assert defaults(to_world)["root_motion"] == d.root_motion == "on"
    assert defaults(retarget)["root_motion"] == d.root_motion
    assert defaults(solve_bvh)["units"] == d.export.units


def _command(name: str) -> click.Command:
    from pose2rig.cli import cli

    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    return command


def test_the_convert_command_is_generated_from_the_options() -> None:
    """One flag per option and per output, with the options' defaults and help text."""
    params = {p.name: p for p in _command("convert").params if isinstance(p, click.Option)}
    d = ConvertOptions().flat()
    for name, default in d.items():
        p = params[name]
        assert p.default == default, name
        if name == "root_motion":  # None: the preset's
            assert p.opts == ["--root-motion"] and list(p.type.choices) == ["on", "ground", "off"]
        assert p.help, name
    assert params["rig_map"].opts == ["--map"]
    assert params["cache"].secondary_opts == ["--no-cache"]
    outputs = {f.name for f in dataclasses.fields(Outputs)}
    assert outputs <= set(params)
    assert set(params) == set(d) | outputs | {"quiet", "verbose"}
    lift = {p.name: p.default for p in _command("lift").params if isinstance(p, click.Option)}
    assert lift["height"] == LiftOptions.height and lift["fov"] == LiftOptions.fov


def test_root_motion_defaults_per_preset_and_takes_the_old_booleans() -> None:
    """Game engines' root-motion setups want the root on the floor: unreal and unity default to
    ground, blender to on; a value given wins over the preset, whichever is set first."""
    assert ConvertOptions().world.root_motion is None and ConvertOptions().root_motion == "on"
    assert ConvertOptions.from_flat(preset="unreal").root_motion == "ground"
    assert ConvertOptions.from_flat(preset="unity").root_motion == "ground"
    assert ConvertOptions.from_flat(preset="blender").root_motion == "on"
    assert ConvertOptions.from_flat(preset="unreal", root_motion="on").root_motion == "on"
    assert ConvertOptions.from_flat(root_motion="off").replace(preset="unity").root_motion == "off"
    assert ConvertOptions.from_flat(root_motion="ground").replace(preset="blender").root_motion == "ground"
    assert ConvertOptions.from_flat(preset="unity").replace(preset="blender").root_motion == "on"
    # booleans, as before ground existed
    assert WorldOptions(root_motion=True).root_motion == "on" and WorldOptions(root_motion=False).root_motion == "off"
    with pytest.raises(ArgumentError) as e:
        ConvertOptions.from_flat(root_motion="floor")
    assert "root_motion must be one of on, ground, off, got 'floor'" in str(e.value)
    assert e.value.render({"root_motion": "--root-motion"}).startswith("--root-motion must be")


def test_outputs_paths_and_character() -> None:
    o = Outputs(bvh="a.bvh", glb=Path("b.glb"))
    assert o.items() == {"bvh": Path("a.bvh"), "glb": Path("b.glb")} and o.character
    assert not Outputs(bvh="a.bvh", npz="a.npz").character
    assert Outputs().items() == {}


def test_export_options_default_is_the_bundled_character() -> None:
    assert ExportOptions().rig is None and ExportOptions().rig_map is None
