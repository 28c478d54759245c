"""userconfig.py: -p values typed as YAML 1.2 scalars, files merged, keys flattened."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from gitruns import userconfig
from gitruns.errors import ConfigError


@pytest.mark.parametrize("raw, value", [
    ("3", 3), ("-3", -3), ("010", 10), ("0o10", 8), ("0x1f", 31), ("1e-3", 0.001), ("1.5", 1.5), (".5", 0.5),
    ("true", True), ("False", False), ("no", "no"), ("off", "off"), ("yes", "yes"), ("null", None), ("~", None),
    ("'3'", "3"), ('"true"', "true"), ("adam", "adam"), ("2024-01-02", "2024-01-02"), ("", ""), ("  ", ""),
    ("[1e-3, no]", [0.001, "no"]), ("{a: 1}", {"a": 1}), ("a: b", "a: b"), ("- x", "- x"),
    (".inf", math.inf), ("-.Inf", -math.inf), ("[unclosed", "[unclosed"), ("a #b", "a"),
])
def test_parse_scalar(raw: str, value: Any) -> None:
    parsed = userconfig.parse_scalar(raw)
    assert parsed == value and type(parsed) is type(value)


def test_parse_scalar_nan() -> None:
    assert math.isnan(userconfig.parse_scalar(".nan"))


@pytest.mark.parametrize("text, parts, value", [
    ("lr=0.1", ["lr"], 0.1), ("train.opt.name=adam", ["train", "opt", "name"], "adam"),
    ("x=", ["x"], ""), ("url=a=b", ["url"], "a=b"), (" k =1", ["k"], 1),
])
def test_parse_override(text: str, parts: list[str], value: Any) -> None:
    assert userconfig.parse_override(text) == (parts, value)


@pytest.mark.parametrize("text", ["lr", "=1", "a..b=1", ".a=1", "a.=1", " =1"])
def test_bad_overrides(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        userconfig.parse_override(text)
    assert str(caught.value) == f"-p '{text}': expected key=value, with a dotted key like train.lr=0.1"
    assert caught.value.exit_code == 2


def test_effective_merges_files_then_overrides(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("train:\n  lr: 0.1\n  epochs: 3\nmodel: small\nflag: no\n")
    top = tmp_path / "top.json"
    top.write_text('{"train": {"lr": 0.05}, "seed": 1}')
    config = userconfig.effective([str(base), str(top)], ["train.epochs=5", "model.width=64", "new.key=x"])
    assert config == {"train": {"lr": 0.05, "epochs": 5}, "model": {"width": 64}, "flag": False, "seed": 1,
                      "new": {"key": "x"}}  # files are YAML 1.1, as most programs read them
    assert userconfig.flatten(config) == {"train.lr": 0.05, "train.epochs": 5, "model.width": 64, "flag": False,
                                          "seed": 1, "new.key": "x"}


@pytest.mark.parametrize("name, text, message", [
    ("c.yaml", "a: [1\n", "config file {path}, line 2: "),
    ("c.json", '{"a": 1,}', "config file {path}, line 1: "),
    ("c.yaml", "- 1\n- 2\n", "config file {path} must hold a mapping of keys to values, not a list"),
])
def test_bad_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        userconfig.load_file(str(path))
    assert str(caught.value).startswith(message.format(path=path)) and "\n" not in str(caught.value)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^cannot read config file .*nope.yaml: No such file or directory$"):
        userconfig.load_file(str(tmp_path / "nope.yaml"))
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text$"):
        userconfig.load_file(str(latin))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert userconfig.load_file(str(empty)) == {}


def test_deep_merge_copies() -> None:
    base = {"a": {"b": [1]}}
    merged = userconfig.deep_merge(base, {"a": {"c": 2}})
    merged["a"]["b"].append(2)
    assert base == {"a": {"b": [1]}} and merged == {"a": {"b": [1, 2], "c": 2}}


def test_dump_and_flatten() -> None:
    assert userconfig.dump({}) == "{}\n"
    assert userconfig.dump({"b": 1, "a": {"x": "ü"}}) == "b: 1\na:\n  x: ü\n"
    assert userconfig.flatten({"a": {}, "b": [1, {"c": 2}]}) == {"a": {}, "b": [1, {"c": 2}]}
    assert userconfig.flatten(3) == {}


def test_a_config_file_of_aliases_standing_for_millions_of_values_is_refused(tmp_path: Path) -> None:
    # 10 values, then 7 levels of 10 aliases each: 100 million values from a few hundred bytes.
    lines = ["a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    bomb = tmp_path / "params.yaml"
    bomb.write_text("\n".join(lines) + "\nx: 1\n")
    with pytest.raises(ConfigError, match="refused: more than 250000 values once its aliases are expanded"):
        userconfig.load_file(str(bomb))
    # Aliases within the bound are fine.
    small = tmp_path / "small.yaml"
    small.write_text("base: &b {lr: 0.1, layers: 4}\ntrain: *b\n")
    assert userconfig.load_file(str(small))["train"] == {"lr": 0.1, "layers": 4}
