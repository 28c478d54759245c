"""envdiff.py, environment.package_source and the verdict's pure parts, in-process."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from gitruns import envdiff, environment, verdict
from gitruns.commands.reproduce import render

ENV: dict[str, Any] = {
    "python": {"version": "3.11.7", "implementation": "CPython",
               "packages": {"numpy": "1.26.0", "Foo_Bar": "1.0", "six": "1.16.0"},
               "package_sources": {"numpy": None, "Foo_Bar": {"dir": "/src/foo", "editable": True}, "six": None}},
    "os": {"system": "Linux", "release": "6.1.0", "distribution": "Debian GNU/Linux 12 (bookworm)"},
    "cpu": {"model": "AMD EPYC", "count": 2, "arch": "x86_64"},
    "gpus": [], "gpu_driver": None, "cuda": None,
}


def test_the_same_environment_has_no_differences() -> None:
    diff = envdiff.compare(ENV, copy.deepcopy(ENV))
    assert diff.same and diff.not_recorded == []
    assert envdiff.lines(diff) == []
    assert diff.to_dict()["same"] is True


def test_packages_added_removed_changed_and_facts() -> None:
    new = copy.deepcopy(ENV)
    py = new["python"]
    py["version"] = "3.12.1"
    py["packages"] = {"numpy": "2.0.0", "foo-bar": "1.0", "rich": "13.0"}  # PEP 503: Foo_Bar is foo-bar
    py["package_sources"] = {"numpy": None, "foo-bar": {"vcs": "git", "url": "https://x/foo.git", "commit": "ab" * 20},
                             "rich": None}
    new["gpus"] = [{"name": "NVIDIA H200"}]
    new["gpu_driver"] = "560.1"
    new["cuda"] = "12.6"
    diff = envdiff.compare(ENV, new)
    assert [(p.name, p.new) for p in diff.added] == [("rich", "13.0")]
    assert [(p.name, p.old) for p in diff.removed] == [("six", "1.16.0")]
    changed = {p.name: p for p in diff.changed}
    assert (changed["numpy"].old, changed["numpy"].new, changed["numpy"].source_changed) == ("1.26.0", "2.0.0", False)
    assert changed["Foo_Bar"].source_changed and changed["Foo_Bar"].old == changed["Foo_Bar"].new == "1.0"
    facts = {f.name: (f.old, f.new) for f in diff.facts}
    assert facts == {"python": ("3.11.7", "3.12.1"), "gpus": ("none", "NVIDIA H200"),
                     "gpu_driver": (None, "560.1"), "cuda": (None, "12.6")}
    text = "\n".join(envdiff.lines(diff))
    assert "  ~ python: 3.11.7 -> 3.12.1" in text and "  + rich 13.0" in text and "  - six 1.16.0" in text
    assert "  ~ numpy 1.26.0 -> 2.0.0" in text
    assert "(from dir /src/foo (editable) -> git https://x/foo.git@abababababab)" in text
    d = diff.to_dict()
    assert d["packages"]["changed"][0]["source"]["to"]["vcs"] == "git"


@pytest.mark.parametrize("old", [{}, {"python": None}, {"python": {"packages": "junk"}}, [], "x", None,
                                 {"os": 3, "cpu": [], "gpus": "no", "python": {"version": ["3"]}}])
def test_older_or_odd_records_say_not_recorded_and_never_crash(old: Any) -> None:
    diff = envdiff.compare(old, ENV)
    assert "packages (original)" in diff.not_recorded
    assert any(n.startswith("python (") for n in diff.not_recorded)
    assert diff.added == [] and diff.facts == []
    assert "not recorded:" in envdiff.lines(diff)[-1]


def test_sources_not_recorded_by_an_older_gitruns_are_not_a_change() -> None:
    old = copy.deepcopy(ENV)
    del old["python"]["package_sources"]
    diff = envdiff.compare(old, ENV)
    assert diff.same and diff.not_recorded == ["package sources (original)"]


def test_package_source_from_direct_url_json() -> None:
    ps = environment.package_source
    assert ps(None) is None and ps({"url": 3}) is None and ps({"url": "x"}) is None
    assert ps({"url": "https://u:tok3n@git.example/r.git", "vcs_info": {"vcs": "git", "commit_id": "c" * 40}}) == {
        "vcs": "git", "url": "https://u:<redacted>@git.example/r.git", "commit": "c" * 40}
    # A token given as the user name alone is redacted too; ssh's user is not a secret.
    assert ps({"url": "https://ghp_abc@github.com/r.git", "vcs_info": {"vcs": "git"}})["url"] == \
        "https://<redacted>@github.com/r.git"
    assert ps({"url": "ssh://git@github.com/r.git", "vcs_info": {"vcs": "git"}})["url"] == "ssh://git@github.com/r.git"
    assert ps({"url": "file:///src/my%20pkg", "dir_info": {"editable": True}}) == {"dir": "/src/my pkg",
                                                                                   "editable": True}
    assert ps({"url": "file:///src/p", "dir_info": {}}) == {"dir": "/src/p", "editable": False}
    assert ps({"url": "https://h/p-1.0.tar.gz", "archive_info": {"hashes": {"sha256": "ab" * 32}}}) == {
        "archive": "https://h/p-1.0.tar.gz", "hash": "sha256=" + "ab" * 32}
    assert ps({"url": "https://h/p.whl", "archive_info": {"hash": "md5=00"}})["hash"] == "md5=00"
    info = environment.with_sources({"packages": {"a": "1", "b": "2"},
                                     "direct_urls": {"b": {"url": "file:///b", "dir_info": {}}}})
    assert info == {"packages": {"a": "1", "b": "2"}, "package_sources": {"a": None, "b": {"dir": "/b",
                                                                                            "editable": False}}}


def _rec(rid: str, artifacts: list[dict[str, Any]], metrics: dict[str, Any] | None = None,
         steps: list[dict[str, Any]] | None = None, status: str = "succeeded", exit_code: int = 0) -> Any:
    return {"id": rid, "artifacts": artifacts, "metrics": metrics or {}, "steps": steps or [],
            "status": status, "exit_code": exit_code}


def _art(path: str, digest: str | None, size: int = 3, status: str = "stored", kind: str = "file") -> dict[str, Any]:
    return {"path": path, "digest": digest, "size": size, "status": status, "kind": kind}


D1, D2 = "xxh3_128:" + "1" * 32, "xxh3_128:" + "2" * 32


def test_artifact_verdicts_without_contents() -> None:
    old = _rec("a", [_art("same.bin", D1), _art("diff.bin", D1), _art("gone.bin", D1),
                     _art("unstored.bin", D1, status="missing"), _art("never.bin", None, status="missing")])
    new = _rec("b", [_art("same.bin", D1), _art("diff.bin", D2, size=5), _art("unstored.bin", None, status="missing"),
                     _art("extra.bin", D2)])
    v = verdict.compare(None, old, new, None, original_env={}, new_env={})
    by = {a.name: a for a in v.artifacts}
    assert {n: a.verdict for n, a in by.items()} == {
        "same.bin": "reproduced", "diff.bin": "differs", "gone.bin": "missing", "unstored.bin": "missing",
        "never.bin": "missing", "extra.bin": "new"}
    assert by["gone.bin"].missing_in == "new" and by["never.bin"].missing_in == "both"
    assert (by["diff.bin"].old_size, by["diff.bin"].new_size) == (3, 5)
    assert not v.reproduced and v.count("missing") == 3
    assert v.reasons[0] == "1 artifact(s) differs: diff.bin"


def test_reproduced_needs_every_artifact_and_the_same_ending() -> None:
    old = _rec("a", [_art("m.bin", D1)])
    assert verdict.compare(None, old, _rec("b", [_art("m.bin", D1)]), None, original_env={}, new_env={}).reproduced
    failed = verdict.compare(None, old, _rec("b", [_art("m.bin", D1)], status="failed", exit_code=1), None,
                             original_env={}, new_env={})
    assert not failed.reproduced and failed.reasons == [
        "the original succeeded (exit 0), the new run failed (exit 1)"]


def test_pipeline_step_outputs_are_named_by_step() -> None:
    out = _art("data/clean.csv", D1)
    old = _rec("a", [out], steps=[{"name": "prepare", "outputs": [out]}])
    new = _rec("b", [_art("data/clean.csv", D2)], steps=[{"name": "prepare", "outputs": [_art("data/clean.csv", D2)]}])
    v = verdict.compare(None, old, new, None, original_env={}, new_env={})
    assert [(a.name, a.step, a.verdict) for a in v.artifacts] == [("prepare/data/clean.csv", "prepare", "differs")]


def test_metrics_equal_delta_missing_new() -> None:
    got = {m.name: m for m in verdict.compare_metrics(
        {"acc": 0.9, "loss": 0.5, "zero": 0, "nan": "nan", "gone": 1, "flag": True},
        {"acc": 0.9, "loss": 0.6, "zero": 2, "nan": "nan", "extra": 3, "flag": 1})}
    assert got["acc"].verdict == "equal" and got["nan"].verdict == "equal"
    assert got["loss"].verdict == "changed" and got["loss"].delta == pytest.approx(0.1)
    assert got["loss"].relative == pytest.approx(0.2)
    assert got["zero"].delta == 2 and got["zero"].relative is None
    assert got["gone"].verdict == "missing" and got["extra"].verdict == "new"
    assert got["flag"].verdict == "changed" and got["flag"].delta is None  # True is not the number 1


def test_render_is_safe_and_says_the_verdict() -> None:
    evil = "out\x1b[2J\n.txt"
    old = _rec("a", [_art(evil, D1)], metrics={"lo\x1bss": 1.0})
    new = _rec("b", [_art(evil, D2)], metrics={"lo\x1bss": 1.5})
    v = verdict.compare(None, old, new, None, original_env={}, new_env={})
    lines = render(v)
    text = "\n".join(lines)
    assert "\x1b" not in text and all("\n" not in line for line in lines)
    assert lines[0] == "verdict: not reproduced"
    assert "  differs    out^[[2J\\x0a.txt: 3 B -> 3 B" in lines
    assert "  changed    lo^[ss: 1 -> 1.5 (+0.5, +50%)" in lines
    assert lines[-1] == "environment:" or "not recorded" in lines[-1]
    ok = verdict.compare(None, _rec("a", [_art("m", D1)]), _rec("b", [_art("m", D1)]), None,
                         original_env=ENV, new_env=ENV)
    assert render(ok)[0] == "verdict: reproduced (1 artifact(s) identical)"
    assert render(ok)[-1] == "environment: same"
    coloured = render(v, colour=True)
    assert any("\x1b[31m" in line for line in coloured)


def test_diffs_read_from_a_real_cache_are_bounded(tmp_path: Any) -> None:
    from gitruns.cache import ArtifactCache

    cache = ArtifactCache(str(tmp_path / "cache"))
    old_text = "".join(f"line {i}\n" for i in range(100)).encode()
    new_text = "".join(f"line {i * 2}\n" for i in range(100)).encode()
    big_a, big_b = b"a" * (verdict.MAX_DIFF_BYTES + 1), b"b" * (verdict.MAX_DIFF_BYTES + 1)
    digests = {k: cache.store_bytes(v) for k, v in
               {"old": old_text, "new": new_text, "big_a": big_a, "big_b": big_b,
                "bad": "ünïcode\n".encode("latin-1")}.items()}
    old = _rec("a", [_art("log.txt", digests["old"], len(old_text)), _art("big.txt", digests["big_a"], len(big_a)),
                     _art("weird.txt", digests["bad"], 9), _art("lost.txt", D1)])
    new = _rec("b", [_art("log.txt", digests["new"], len(new_text)), _art("big.txt", digests["big_b"], len(big_b)),
                     _art("weird.txt", digests["old"], len(old_text)), _art("lost.txt", D2)])
    by = {a.name: a for a in verdict.compare(None, old, new, cache, original_env={}, new_env={}).artifacts}
    assert len(by["log.txt"].diff or []) == verdict.MAX_DIFF_LINES and by["log.txt"].diff_truncated
    assert (by["log.txt"].diff or [])[0].startswith("@@ ")
    assert by["big.txt"].diff is None and by["big.txt"].note == "no diff: larger than 1024 KiB"
    assert by["weird.txt"].note == "binary"  # not UTF-8: sizes only
    assert by["lost.txt"].note == "no diff: not in the local cache and no artifact store is configured"


def test_a_recorded_name_or_version_with_a_trailing_newline_is_refused() -> None:
    """`$` matches before a final newline; a record must not smuggle one into pip's
    arguments or the lines shown (review)."""
    from gitruns import envrecreate

    for name, version, problem in (("foo\n", "1.0", "not a valid package name"),
                                   ("foo", "1.0\n", "not a valid version")):
        [spec], _ = envrecreate.plan({"python": {"packages": {name: version}, "package_sources": {}}})
        assert spec.args == [] and spec.problem == problem and "\n" not in spec.shown
