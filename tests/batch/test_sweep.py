"""Sweep files: expansion, range syntax, validation errors and stable variant ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_fakes import BASE, WriteSweep

from aers_host.batch import MAX_AXIS_VALUES, load_sweep, parse_range, variant_id
from aers_host.batch._axes import AxisError, set_path
from aers_host.errors import ConfigError


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    return [str(p) for p in info.value.problems]


def test_product_is_cartesian_first_axis_slowest(write_sweep: WriteSweep) -> None:
    sweep = load_sweep(write_sweep())
    assert sweep.mode == "product"
    assert [tuple(v.values.values()) for v in sweep.variants] == [
        (-6, 1), (-6, 2), (-6, 3), (0, 1), (0, 2), (0, 3)
    ]  # fmt: skip
    first = sweep.variants[0].data
    assert first["seed"] == 1 and first["nodes"]["g"]["params"]["gain_db"] == -6
    assert sweep.base == (write_sweep().parent / "base.yaml").resolve()


def test_zip_pairs_the_ith_values(write_sweep: WriteSweep) -> None:
    sweep = load_sweep(
        write_sweep("""
            base: base.yaml
            mode: zip
            axes:
              nodes.g.params.gain_db: [-6, -3, 0]
              block_size: [128, 256, 512]
        """)
    )
    assert [tuple(v.values.values()) for v in sweep.variants] == [(-6, 128), (-3, 256), (0, 512)]


def test_zip_with_unequal_lengths_is_refused(write_sweep: WriteSweep) -> None:
    path = write_sweep("""
        base: base.yaml
        mode: zip
        axes:
          seed: [1, 2, 3]
          block_size: [128, 256]
    """)
    assert problems(path) == [
        f"{path}:2: mode: zip needs axes of equal length: seed has 3, block_size has 2 "
        "(or use mode: product)"
    ]


def test_range_string_is_inclusive() -> None:
    assert parse_range("1..4") == (1, 2, 3, 4)
    assert parse_range("-2..0") == (-2, -1, 0)
    assert parse_range("5..5") == (5,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3..1", "is empty"),
        ("1..x", "not a value list or a range"),
        ("1-5", "not a value list or a range"),
        (f"1..{MAX_AXIS_VALUES + 1}", "values, over"),
    ],
)
def test_bad_range_is_refused(text: str, message: str) -> None:
    with pytest.raises(AxisError, match=message):
        parse_range(text)


def test_range_expands_in_a_sweep(write_sweep: WriteSweep) -> None:
    path = write_sweep('base: base.yaml\naxes:\n  seed: "1..100"\n')
    assert [v.values["seed"] for v in load_sweep(path).variants] == list(range(1, 101))


def test_missing_node_is_located_with_did_you_mean(write_sweep: WriteSweep) -> None:
    path = write_sweep("""
        base: base.yaml
        axes:
          seed: [1, 2]
          nodes.gg.params.gain_db: [-6, 0]
    """)
    assert problems(path) == [
        f"{path}:4: axes.nodes.gg.params.gain_db: no node 'gg' in the base config "
        "(did you mean 'g'?)"
    ]


def test_unknown_param_and_top_level_key_are_located(write_sweep: WriteSweep) -> None:
    path = write_sweep("""
        base: base.yaml
        axes:
          nodes.g.params.gain_bd: [-6, 0]
          blocksize: [128]
          nodes.g.params.gain_db.x: [1]
    """)
    assert problems(path) == [
        f"{path}:3: axes.nodes.g.params.gain_bd: nodes.g.params.gain_bd does not exist in "
        "the base config (did you mean 'gain_db'?)",
        f"{path}:4: axes.blocksize: blocksize does not exist in the base config "
        "(did you mean 'block_size'?)",
        f"{path}:5: axes.nodes.g.params.gain_db.x: nodes.g.params.gain_db is a int value, "
        "not a mapping",
    ]


def test_keys_the_schema_allows_may_be_new(write_sweep: WriteSweep) -> None:
    base = BASE.replace(
        "tone: {type: sine, params: {freq: 440, level_db: -12}}", "tone: {type: sine}"
    )
    sweep = load_sweep(
        write_sweep(
            """
            base: base.yaml
            axes:
              nodes.tone.params.freq: [220, 880]
              nodes.g.bypass: [true]
              connections.1.gain_db: [-3]
            """,
            base,
        )
    )
    data = sweep.variants[1].data
    assert data["nodes"]["tone"]["params"] == {"freq": 880}
    assert data["nodes"]["g"]["bypass"] is True
    assert data["connections"][1]["gain_db"] == -3


def test_sweep_file_schema_errors_use_the_config_machinery(write_sweep: WriteSweep) -> None:
    path = write_sweep("""
        base: base.yaml
        mode: cartesian
        axis:
          seed: [1]
    """)
    assert sorted(problems(path)) == [
        f"{path}:1: <root>: missing required key 'axes'",
        f'{path}:2: mode: "cartesian" is not supported (use one of "product", "zip")',
        f"{path}:3: axis: unknown key 'axis' (did you mean 'axes'?)",
    ]


def test_empty_and_malformed_axis_values(write_sweep: WriteSweep) -> None:
    path = write_sweep("""
        base: base.yaml
        axes:
          seed: []
          block_size: 128
          duration: "0.1..0.5"
          nodes.g.params.gain_db: [.nan]
    """)
    found = problems(path)
    assert found[3].startswith(f"{path}:6: axes.nodes.g.params.gain_db: value nan is not plain")
    assert found[0] == f"{path}:3: axes.seed: has no values (give at least one value)"
    assert found[1].startswith(f"{path}:4: axes.block_size: must be a list of values")
    assert found[2].startswith(f"{path}:5: axes.duration: '0.1..0.5' is not a value list")


def test_invalid_variant_is_blamed_on_its_axis_line(write_sweep: WriteSweep) -> None:
    path = write_sweep("""
        base: base.yaml
        axes:
          block_size: [128, 16]
          seed: [1, 2]
    """)
    assert problems(path) == [
        f"{path}:3: axes.block_size: 16 is too small: must be >= 32 "
        "[in variant block_size=16, seed=1 and 1 more]"
    ]


def test_problem_of_the_base_config_is_reported_once(write_sweep: WriteSweep) -> None:
    base = BASE.replace("{from: g, to: main}", "{from: g, to: mian}")
    path = write_sweep(base=base)
    found = problems(path)
    assert len(found) == 1
    assert found[0].startswith(str(path.parent / "base.yaml") + ":11: connections.1.to: ")
    assert found[0].endswith("missing node 'mian' [in every variant] (did you mean 'main'?)")


def test_missing_base_is_located_at_base(write_sweep: WriteSweep) -> None:
    path = write_sweep("base: nowhere.yaml\naxes:\n  seed: [1]\n")
    found = problems(path)
    assert found[0] == f"{path}:1: base: the base config cannot be used"
    assert "nowhere.yaml" in found[1] and "cannot read config" in found[1]


def test_ids_are_stable_and_follow_the_config(write_sweep: WriteSweep, tmp_path: Path) -> None:
    first = [v.id for v in load_sweep(write_sweep()).variants]
    assert first == [v.id for v in load_sweep(write_sweep()).variants]
    assert len(set(first)) == 6 and all(len(i) == 12 for i in first)
    changed = load_sweep(write_sweep(base=BASE.replace("freq: 440", "freq: 441"))).variants
    assert not {v.id for v in changed} & set(first)
    one_value = load_sweep(write_sweep("base: base.yaml\naxes:\n  seed: [1, 2, 99]\n")).variants
    by_seed = {v.values["seed"]: v.id for v in one_value}
    assert by_seed[1] == first[3] and by_seed[2] == first[4]  # gain_db 0 is the base value
    data = dict(load_sweep(write_sweep()).variants[0].data)
    assert variant_id(data, tmp_path) != variant_id(data, tmp_path / "elsewhere")


def test_duplicate_points_are_dropped(write_sweep: WriteSweep) -> None:
    sweep = load_sweep(write_sweep("base: base.yaml\naxes:\n  seed: [1, 1, 2]\n"))
    assert [v.values["seed"] for v in sweep.variants] == [1, 2]
    assert sweep.duplicates == 1


def test_set_path_into_lists_and_new_mappings() -> None:
    data: dict[str, object] = {"connections": [{"from": "a"}], "nodes": {"x": {"type": "gain"}}}
    set_path(data, "connections.0.gain_db", -3)
    set_path(data, "nodes.x.params.gain_db", 6)
    assert data == {
        "connections": [{"from": "a", "gain_db": -3}],
        "nodes": {"x": {"type": "gain", "params": {"gain_db": 6}}},
    }


def test_broken_axis_does_not_hide_the_problems_of_the_others(write_sweep: WriteSweep) -> None:
    path = write_sweep("""
        base: base.yaml
        axes:
          nodes.gg.params.gain_db: [1]
          block_size: [16, 512]
          seed: [1, 2]
    """)
    assert problems(path) == [
        f"{path}:3: axes.nodes.gg.params.gain_db: no node 'gg' in the base config "
        "(did you mean 'g'?)",
        f"{path}:4: axes.block_size: 16 is too small: must be >= 32 "
        "[in variant block_size=16, seed=1 and 1 more]",
    ]


def test_broken_axis_in_zip_mode_checks_the_others_too(write_sweep: WriteSweep) -> None:
    path = write_sweep("""
        base: base.yaml
        mode: zip
        axes:
          seed: []
          block_size: [16, 512]
          nodes.g.params.gain_db: [0, 1, 2]
    """)
    assert problems(path) == [
        f"{path}:4: axes.seed: has no values (give at least one value)",
        f"{path}:2: mode: zip needs axes of equal length: block_size has 2, "
        "nodes.g.params.gain_db has 3 (or use mode: product)",
    ]
