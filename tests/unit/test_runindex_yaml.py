"""The index's quick config.yaml reader agrees with PyYAML's SafeLoader (through
gitruns.bounds.load_yaml) on everything it accepts, and declines the rest."""
from __future__ import annotations

import itertools
import random

import pytest
import yaml

from gitruns import bounds
from gitruns.runindex import _NOT_SIMPLE, simple_yaml

SCALARS = ["0", "1", "-3", "12", "007", "1_000", "0.5", "-0.25", "1.", ".5", "1e-5", "1.0e+5", "3.0",
           "true", "True", "TRUE", "false", "yes", "no", "on", "Off", "y", "n", "null", "Null", "~", "none",
           "nan", ".nan", ".inf", "adam", "resnet50", "data/train.csv", "a-b", "a_b", "x.y", "2026-01-01",
           "1:20", "0x1F", "0o17", "'quoted'", '"q"', "a b", "a,b", "a: b", "#c", "&a", "*a", "!!str 1", "=",
           "<<", "@x", "%x", "[1, 2]", "[a, b, 0.5]", "[]", "[1,2]", "[ 1, 2 ]", "{a: 1}", "|", ">",
           "-", "- a", "?", "é", "ok # comment"]
KEYS = ["a", "lr", "on", "yes", "null", "1", "_x", "model.name", "a-b", "a b", "é", "- a", "x:"]


def agree(text: str) -> None:
    raw = text.encode()
    fast = simple_yaml(raw)
    if fast is _NOT_SIMPLE:
        return
    try:
        slow = bounds.load_yaml(raw)
    except Exception as exc:  # noqa: BLE001 - PyYAML refuses it: so must the quick reader
        pytest.fail(f"quick reader accepted what PyYAML refuses ({exc}): {text!r} -> {fast!r}")
    assert fast == slow and repr(fast) == repr(slow), text


@pytest.mark.parametrize("value", SCALARS)
def test_scalars(value: str) -> None:
    agree(f"key: {value}\n")
    agree(f"outer:\n  key: {value}\n  other: 1\n")


@pytest.mark.parametrize("key", KEYS)
def test_keys(key: str) -> None:
    agree(f"{key}: 1\n")
    agree(f"{key}:\n  x: 1\n")


def test_common_config_is_quick_and_equal() -> None:
    text = ("model:\n  name: resnet18\n  dropout: 0.1\n  layers: [64, 128, 256, 512]\ntrain:\n  lr: 0.001\n"
            "  batch: 32\n  opt: adam\n  epochs: 20\n  seed: 7\ndata:\n  path: data/train.csv\n"
            "  augment: true\n  workers: 4\nempty:\nlast: null\n")
    assert simple_yaml(text.encode()) is not _NOT_SIMPLE
    agree(text)


def test_shapes() -> None:
    lines = ["a: 1", "b:", "  c: 2", "  d:", "    e: x", "  f: [1, 2]", "g: ~", "   h: 3", " i: 1", "j:",
             "", "k: 1  ", "---", "- 1", "l:  2"]
    rng = random.Random(5)
    for n in range(1, 6):
        for combo in itertools.islice(itertools.permutations(lines, n), 3000):
            agree("\n".join(combo) + "\n")
    for _ in range(3000):
        agree("\n".join(rng.choice(lines) for _ in range(rng.randint(1, 8))))


def test_declines_duplicates_and_odd_text() -> None:
    assert simple_yaml(b"a: 1\na: 2\n") is _NOT_SIMPLE
    assert simple_yaml(b"a: 1 # note\n") is _NOT_SIMPLE
    assert simple_yaml("a: é\n".encode()) is _NOT_SIMPLE
    assert simple_yaml(b"a: &x 1\nb: *x\n") is _NOT_SIMPLE
    assert yaml.safe_load("a: 1\n") == simple_yaml(b"a: 1\n")
