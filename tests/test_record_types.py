"""The record's types (gitruns.record.RunRecord and its parts, which mypy checks
the code against) say what the shipped JSON Schema says, key for key."""
from __future__ import annotations

from typing import Any

import pytest

from gitruns import record

SCHEMA = record.schema()
PROPS = SCHEMA["properties"]
DEFS = SCHEMA["$defs"]
CODE = PROPS["code"]["properties"]
STEP = DEFS["step"]["properties"]

PARTS: list[tuple[Any, dict[str, Any]]] = [
    (record.Code, PROPS["code"]),
    (record.Process, PROPS["process"]),
    (record.Error, PROPS["error"]),
    (record.Input, PROPS["inputs"]["items"]),
    (record.Artifact, DEFS["artifact"]),
    (record.Log, PROPS["logs"]["additionalProperties"]),
    (record.ChangedFile, CODE["changed_files"]["items"]),
    (record.UntrackedLarge, CODE["untracked_large"]["items"]),
    (record.UntrackedOverflow, CODE["untracked_overflow"]),
    (record.OverflowDirectory, CODE["untracked_overflow"]["properties"]["directories"]["items"]),
    (record.Submodule, CODE["submodules"]["items"]),
    (record.SubmoduleChange, CODE["submodules"]["items"]["properties"]["changed_files"]["items"]),
    (record.Step, DEFS["step"]),
    (record.StepInput, DEFS["step_input"]),
    (record.Attempt, DEFS["attempt"]),
    (record.CachedFrom, STEP["cached_from"]),
    (record.Pipeline, DEFS["pipeline"]),
]


def test_the_record_type_has_every_field_of_the_schema_in_order() -> None:
    optional = tuple(k for k in record.RunRecord.__annotations__ if k not in record.FIELD_ORDER)
    assert tuple(record.RunRecord.__annotations__) == record.FIELD_ORDER + optional
    assert set(record.FIELD_ORDER) | set(optional) == set(PROPS)
    # In memory every key of FIELD_ORDER is present (new and upgrade fill them all);
    # the optional ones (command_template, metrics_files) are written only when they say something.
    assert record.RunRecord.__required_keys__ == set(record.FIELD_ORDER)
    assert record.RunRecord.__optional_keys__ == set(optional) == {"command_template", "metrics_files"}
    assert set(record.new("0" * 26)) == set(record.FIELD_ORDER)


@pytest.mark.parametrize(("part", "schema"), PARTS, ids=[p.__name__ for p, _ in PARTS])
def test_each_part_has_the_keys_and_required_keys_of_the_schema(part: Any, schema: dict[str, Any]) -> None:
    assert set(part.__annotations__) | set(part.__required_keys__) | set(part.__optional_keys__) \
        == set(schema["properties"])
    assert part.__required_keys__ == set(schema.get("required", []))
