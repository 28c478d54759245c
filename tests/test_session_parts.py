"""The pure parts a run is recorded with (split out of gitruns.session), in process:
how the record's own problems settle a run's status, the error of a record that
could not be completed, tags, the invoker, paths and the run directory's files.
The end-to-end behaviour is in test_exec.py, test_failures.py and test_capture.py."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitruns import outcome, rundir
from gitruns.errors import PathError, UsageError
from gitruns.launchspec import detect_invoker, parse_tags
from gitruns.record import Error
from gitruns.runpaths import RunPaths


def test_a_problem_storing_what_the_run_declared_fails_a_succeeded_run() -> None:
    assert outcome.settle("succeeded", None, [("missing", "m"), ("storage", "s")]) == \
        ("failed", {"type": "storage", "message": "m; s"})
    assert outcome.settle("succeeded", None, [("storage", "s"), ("disk_full", "d")]) == \
        ("failed", {"type": "disk_full", "message": "s; d"})


def test_other_problems_leave_the_status_and_are_added_to_an_error() -> None:
    assert outcome.settle("succeeded", None, []) == ("succeeded", None)
    assert outcome.settle("succeeded", None, [("record", "r")]) == \
        ("succeeded", {"type": "record", "message": "r"})
    error: Error = {"type": "exit", "message": "command exited with code 2"}
    assert outcome.settle("failed", error, [("storage", "s")]) == \
        ("failed", {"type": "exit", "message": "command exited with code 2", "record_problems": ["s"]})


def test_the_error_of_an_incomplete_record_keeps_the_runs_own() -> None:
    assert outcome.incomplete(None, "OSError: full") == \
        {"type": "record", "message": "gitruns could not complete the record: OSError: full"}
    error: Error = {"type": "exit", "message": "exited 1", "stderr_tail": "boom"}
    failure = outcome.incomplete(error, "OSError: full")
    assert list(failure) == ["type", "message", "stderr_tail"]
    assert failure["message"] == "exited 1; gitruns could not complete the record: OSError: full"
    assert error["message"] == "exited 1"  # the caller's error is left as it was


def test_only_errors_are_returned_to_tell_and_consequences_of_a_failure_are_quiet() -> None:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert outcome.tell([("storage", "a\nb"), ("missing", "m")], command_succeeded=False) == ["a b"]
        assert outcome.tell([("record", "r")], command_succeeded=True) == []
    assert [str(w.message) for w in caught] == ["r"]


def test_tags() -> None:
    assert parse_tags(["a=b", " k =v=w", "e="]) == {"a": "b", "k": "v=w", "e": ""}
    for bad in ("novalue", "=x", " =x"):
        with pytest.raises(UsageError, match="expected key=value"):
            parse_tags([bad])


@pytest.mark.parametrize(("env", "invoker"), [
    ({}, ("manual", {})),
    ({"GITRUNS_INVOKED_BY": "hook", "CI": "true"}, ("hook", {"source": "GITRUNS_INVOKED_BY"})),
    ({"GITRUNS_INVOKED_BY": "nonsense"}, ("manual", {})),
    ({"GITRUNS_RUN_ID": "01abc", "GITHUB_ACTIONS": "true"}, ("run", {"parent_run": "01abc"})),
    ({"GITLAB_CI": "1"}, ("ci", {"provider": "gitlab-ci"})),
    ({"CI": "Yes"}, ("ci", {"provider": "unknown"})),
    ({"CI": "false"}, ("manual", {})),
])
def test_who_started_the_run(env: dict[str, str], invoker: tuple[str, dict[str, str]]) -> None:
    assert detect_invoker(env) == invoker


def test_run_paths(tmp_path: Path) -> None:
    root = str(tmp_path / "repo")
    git_dir = os.path.join(root, ".git")
    paths = RunPaths(os.path.join(root, "sub"), root, (git_dir, git_dir))
    assert paths.abs("../out") == os.path.join(root, "out")
    assert paths.display(os.path.join(root, "out", "m.bin")) == os.path.join("out", "m.bin")
    assert paths.display("/elsewhere/x") == "/elsewhere/x"
    assert paths.refusal(os.path.join(root, "out")) is None
    assert paths.refusal(os.path.join(git_dir, "config")) is not None
    with pytest.raises(PathError, match="-o ../../x: .*outside the git directory"):
        paths.output("../../x", "-o")


def test_run_directory_files(tmp_path: Path) -> None:
    run_dir = str(tmp_path)
    assert rundir.config_file_path(run_dir, [], []) is None
    assert rundir.config_file_path(run_dir, ["conf/train.json"], ["a=1"]) == \
        os.path.join(run_dir, "config", "train.json")
    assert rundir.config_file_path(run_dir, [], ["a=1"]) == os.path.join(run_dir, "config", "config.yaml")
    (tmp_path / "params.jsonl").write_text('{"a": 1, "b": {"c": 2}}\nnot json\n[1]\n{"b": {"d": 3}}\n')
    assert rundir.params(run_dir) == {"a": 1, "b": {"c": 2, "d": 3}}
    (tmp_path / "artifacts.jsonl").write_text('{"path": "/x"}\n{"path": 3}\n{"nopath": 1}\n')
    assert rundir.logged_artifacts(run_dir) == ["/x"]
    assert rundir.read_jsonl(run_dir, "absent.jsonl") == []
    problems: outcome.Problems = []
    (tmp_path / "metrics.jsonl").write_text('{"name": "loss", "value": NaN}\n')
    points = rundir.metric_points(run_dir, [(str(tmp_path / "nope.json"), "nope.json")], problems)
    assert points == [{"name": "loss", "value": "nan"}]
    assert [kind for kind, _ in problems] == ["record"] and "nope.json" in problems[0][1]


@pytest.mark.parametrize("module", ["session", "coderun", "launchspec", "runpaths", "commandenv", "dirtypolicy",
                                    "inputs", "rundir", "outputs", "logfiles", "outcome"])
def test_the_run_modules_do_not_import_the_api_module(module: str) -> None:
    """``gitruns.api`` imports the run side lazily; the run side never imports it back."""
    source = (Path(__file__).resolve().parent.parent / "gitruns" / f"{module}.py").read_text()
    assert "from .api" not in source and "import api" not in source
