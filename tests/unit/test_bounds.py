"""bounds.py: size, depth and alias-expansion limits for untrusted record files."""
from __future__ import annotations

import pytest

from gitruns import bounds
from gitruns.errors import RecordError


def test_check_size() -> None:
    bounds.check_size("run.json", bounds.MAX_RECORD_BYTES)
    with pytest.raises(RecordError) as caught:
        bounds.check_size("run.json", bounds.MAX_RECORD_BYTES + 1)
    assert str(caught.value) == "run.json refused: too large (16,777,217 bytes; the limit is 16 MiB)"
    with pytest.raises(RecordError, match=r"^metrics.jsonl refused: too large \(5 bytes; the limit is 4 bytes\)$"):
        bounds.check_size("metrics.jsonl", 5, limit=4)
    bounds.check_size("other.json", bounds.MAX_FILE_BYTES)
    with pytest.raises(RecordError):
        bounds.check_size("other.json", bounds.MAX_FILE_BYTES + 1)


@pytest.mark.parametrize("raw, depth", [
    (b"{}", 1), (b"[[[]]]", 3), (b'{"a": [1, {"b": 2}]}', 3), (b'"no brackets"', 0),
    (b'{"s": "' + b"[" * 150 + b'"}', 1),
    (b'{"s": "\\"' + b"[" * 150 + b'\\""}', 1),  # an escaped quote does not end the string
    (b"[" * 50 + b"]" * 50 + b"[]" * 100, 50),
])
def test_json_depth_counts_brackets_outside_strings(raw: bytes, depth: int) -> None:
    assert bounds.json_depth(raw) == depth


def test_json_depth_below_the_limit_is_an_upper_bound() -> None:
    # Up to MAX_DEPTH brackets in all, counting them is enough: the text cannot be deeper.
    assert bounds.json_depth(b'{"s": "[[[["}') == 5
    assert bounds.json_depth(b"[" * 101 + b"]" * 101) == 101


def test_load_json_refuses_deep_nesting_and_constants() -> None:
    assert bounds.load_json(b'{"a": [1, 2.5, "x", null]}', "run.json") == {"a": [1, 2.5, "x", None]}
    deep = b"[" * (bounds.MAX_DEPTH + 1) + b"]" * (bounds.MAX_DEPTH + 1)
    with pytest.raises(RecordError, match=r"^run.json refused: nested more than 100 levels deep$"):
        bounds.load_json(deep, "run.json")
    bounds.load_json(b"[" * bounds.MAX_DEPTH + b"]" * bounds.MAX_DEPTH, "run.json")
    for bad in (b'{"loss": NaN}', b"[Infinity]", b"{", b"\xff"):
        with pytest.raises(RecordError, match=r"^env.json is not valid JSON: "):
            bounds.load_json(bad, "env.json")


def test_load_yaml() -> None:
    assert bounds.load_yaml(b"lr: 0.1\nlayers: [1, 2]\n") == {"lr": 0.1, "layers": [1, 2]}
    with pytest.raises(RecordError, match=r"^config.yaml is not valid YAML: "):
        bounds.load_yaml(b"a: [1, 2\n")
    with pytest.raises(RecordError, match=r"^config.yaml is not valid YAML: "):
        bounds.load_yaml(b"!!python/object:os.system {}\n")  # safe types only


def test_load_yaml_refuses_an_alias_bomb() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]"
              for i in range(1, 9)]
    with pytest.raises(RecordError, match=r"^config.yaml refused: "):
        bounds.load_yaml("\n".join(lines).encode())


def test_load_yaml_refuses_deep_nesting_and_size() -> None:
    with pytest.raises(RecordError, match=r"^config.yaml refused: "):
        bounds.load_yaml(b"[" * 150 + b"]" * 150)
    with pytest.raises(RecordError, match=r"^config.yaml refused: too large"):
        bounds.load_yaml(b"#" * (bounds.MAX_YAML_BYTES + 1))


def test_human_bytes() -> None:
    assert bounds.human_bytes(1023) == "1023 bytes"
    assert bounds.human_bytes(bounds.MiB) == "1 MiB"
