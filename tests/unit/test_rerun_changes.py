"""The pure parts of a rerun: the changes it records, redacted config values, option errors."""
from __future__ import annotations

import pytest

from gitruns import redact
from gitruns.errors import UsageError
from gitruns.rerunning import RerunOptions, check_options, config_changes, without_redacted


def test_changes_are_computed_from_both_configs() -> None:
    before = {"train": {"lr": 0.1, "epochs": 3}, "seed": 1, "gone": "x"}
    after = {"train": {"lr": 0.01, "epochs": 3}, "seed": 1, "new": [1, 2]}
    assert config_changes(before, after) == [
        {"kind": "param", "name": "train.lr", "from": 0.1, "to": 0.01},
        {"kind": "param", "name": "gone", "from": "x", "to": None},
        {"kind": "param", "name": "new", "from": None, "to": [1, 2]},
    ]
    assert config_changes(before, before) == []


def test_secret_values_stay_redacted_in_changes() -> None:
    changes = config_changes({"api_token": "aaa"}, {"api_token": "bbb", "db": {"password": "p"}})
    assert changes == [{"kind": "param", "name": "db.password", "from": None, "to": redact.REDACTED}]


def test_redacted_values_are_left_out_and_named() -> None:
    config = {"api_token": redact.REDACTED, "train": {"lr": 0.1, "key": redact.REDACTED},
              "url": f"https://u:{redact.REDACTED}@host/x"}
    clean, lost = without_redacted(config)
    assert clean == {"train": {"lr": 0.1}}
    assert lost == ["api_token", "train.key", "url"]


@pytest.mark.parametrize("options, text", [
    (RerunOptions(mode="reproduce", overrides=["a=1"]), "reproduce reruns exactly"),
    (RerunOptions(mode="reproduce", from_step="x"), "reproduce reruns exactly"),
    (RerunOptions(mode="resume"), "unknown rerun mode"),
    (RerunOptions(env="conda"), "expected current or recreate"),
    (RerunOptions(overrides=["novalue"]), "expected key=value"),
])
def test_option_errors(options: RerunOptions, text: str) -> None:
    with pytest.raises(UsageError, match=text):
        check_options(options)


def test_outcome_to_dict() -> None:
    from gitruns.rerunning import RerunOutcome

    out = RerunOutcome("new", "old", "succeeded", 0, {}, [{"kind": "from_step", "name": "t"}])  # type: ignore[typeddict-item]
    assert out.to_dict() == {"run": "new", "rerun_of": "old", "status": "succeeded", "exit_code": 0,
                             "changes": [{"kind": "from_step", "name": "t"}], "errors": []}
