"""The Python read API (gitruns.runs, load, compare, logs) against real runs,
checked against what the verbs print and what plain git holds; and the
listings' machine output (ls --json/--jsonl/--csv)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from conftest import git, gitrun, latest, make_repo, record, state
from realparts import missing

import gitruns

DOC = Path(__file__).resolve().parent.parent / "docs" / "python.md"
TRAIN = ("import gitruns, os, sys, yaml\n"
         "cfg = yaml.safe_load(open(os.environ['GITRUNS_CONFIG_FILE'])) if os.environ.get('GITRUNS_CONFIG_FILE') "
         "else {}\n"
         "lr = cfg.get('lr', 0.1)\n"
         "for step in range(3):\n"
         "    gitruns.log_metric('loss', lr / (step + 1), step=step)\n"
         "open('model.bin', 'w').write(f'weights {lr}')\n"
         "print('trained with', lr)\n"
         "print('a warning', file=sys.stderr)\n")


def _exec(repo: Path, *args: str) -> str:
    proc = gitrun(repo, "exec", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return latest(repo)


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, str, str, str]:
    """Three runs: two trainings with different lr (a stored model each), one failure."""
    repo = make_repo(tmp_path / "repo", {"train.py": TRAIN, ".gitignore": "model.bin\n"})
    a = _exec(repo, "--name", "slow", "-t", "exp=lr", "-p", "lr=0.1", "-p", "opt.name=sgd", "-o", "model.bin",
              "--", "python", "train.py")
    b = _exec(repo, "--name", "fast", "-t", "exp=lr", "-p", "lr=0.5", "-p", "opt.name=sgd", "-o", "model.bin",
              "--", "python", "train.py")
    c = _exec(repo, "--name", "broken", "--", "python", "-c", "raise SystemExit(1)")
    return repo, a, b, c


def test_runs_filters_like_ls(runs: tuple[Path, str, str, str]) -> None:
    repo, a, b, c = runs
    listed = gitruns.runs(repo=repo)
    assert [r.id for r in listed] == [c, b, a]  # newest first, as ls
    assert [r.id for r in gitruns.runs(status="failed", repo=repo)] == [c]
    assert [r.id for r in gitruns.runs(status=["succeeded"], repo=repo)] == [b, a]
    assert [r.id for r in gitruns.runs(tags={"exp": "lr"}, repo=repo)] == [b, a]
    assert [r.id for r in gitruns.runs(tags=["exp=lr"], name="fa", repo=repo)] == [b]
    assert [r.id for r in gitruns.runs(limit=1, repo=repo)] == [c]
    assert [r.id for r in gitruns.runs(since="1h", repo=repo)] == [c, b, a]
    assert gitruns.runs(until="2000-01-01", repo=repo) == []
    assert len(gitruns.runs(since=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc), repo=repo)) == 3
    assert gitruns.runs(until=dt.datetime(2000, 1, 1), repo=repo) == []  # naive: local time, as git
    assert gitruns.runs(limit=0, repo=repo) == []
    # The same as the CLI, whatever the filter.
    for args, kwargs in ((["--status", "failed"], {"status": "failed"}), (["--name", "s*"], {"name": "s*"}),
                         (["--limit", "2"], {"limit": 2})):
        cli = [r["id"] for r in json.loads(gitrun(repo, "ls", "--json", *args).stdout)]
        assert cli == [r.id for r in gitruns.runs(repo=repo, **kwargs)]
    with pytest.raises(gitruns.UsageError, match="--status exploded"):
        gitruns.runs(status="exploded", repo=repo)
    # From inside the repository, repo= is not needed.
    here = os.getcwd()
    os.chdir(repo)
    try:
        assert [r.id for r in gitruns.runs()] == [c, b, a]
    finally:
        os.chdir(here)


def test_load_gives_a_typed_run(runs: tuple[Path, str, str, str]) -> None:
    repo, a, _b, c = runs
    run = gitruns.load(a[:10], repo=repo)
    assert isinstance(run, gitruns.Run)
    assert (run.id, run.name, run.status) == (a, "slow", "succeeded")
    assert run.record == record(repo, a)
    assert run.commit == git(repo, "rev-parse", f"refs/runs/{a}").strip()
    assert run.config == {"lr": 0.1, "opt": {"name": "sgd"}}
    assert run.params == {"lr": 0.1, "opt.name": "sgd"}
    assert run.tags == {"exp": "lr"}
    assert run.metrics == {"loss": pytest.approx(0.1 / 3)}
    history = run.metrics_history
    assert [(p["name"], p["step"]) for p in history] == [("loss", 0), ("loss", 1), ("loss", 2)]
    assert [p["value"] for p in history] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert run.env["python"]["version"].count(".") == 2
    assert run.code.commit == git(repo, "rev-parse", "HEAD").strip() and run.code.dirty is False
    assert run.started_at is not None and run.started_at.tzinfo is not None
    assert run.duration_s is not None and run.duration_s >= 0
    assert run.logs.stdout == "trained with 0.1\n" and run.logs.stderr == "a warning\n"
    [model] = run.artifacts
    assert (model.path, model.kind, model.status) == ("model.bin", "file", "stored")
    assert model.digest == record(repo, a)["artifacts"][0]["digest"] and model.size == len("weights 0.1")
    assert run.inputs == []
    assert gitruns.load("slow", repo=repo).id == a
    assert gitruns.load(c, repo=repo).status == "failed"
    with pytest.raises(gitruns.UnknownRun):
        gitruns.load("zzzzzz", repo=repo)


def test_artifacts_restore_through_checkout(runs: tuple[Path, str, str, str], tmp_path: Path) -> None:
    repo, a, b, _c = runs
    before = git(repo, "status", "--porcelain")
    (repo / "model.bin").write_text("weights 0.5")  # b's model, as b left it
    run = gitruns.load(a, repo=repo)
    # A modified file is not overwritten without force, as 'git run checkout' refuses.
    with pytest.raises(gitruns.GitrunsError, match="would overwrite modified files"):
        run.artifacts.restore()
    assert (repo / "model.bin").read_text() == "weights 0.5"
    assert run.artifacts.restore(force=True) == ["model.bin"]
    assert (repo / "model.bin").read_text() == "weights 0.1"
    assert run.artifacts.restore() == []  # already there
    # Into another directory: the same checks, and the working tree is left alone.
    dest = tmp_path / "elsewhere"
    assert gitruns.load(b, repo=repo).artifacts.restore("model.bin", dest=dest) == ["model.bin"]
    assert (dest / "model.bin").read_text() == "weights 0.5"
    assert (repo / "model.bin").read_text() == "weights 0.1"
    with pytest.raises(gitruns.UsageError, match="no artifact at nothing.bin"):
        run.artifacts.restore("nothing.bin")
    for inside in (repo / ".git" / "hooks", repo / ".git"):
        with pytest.raises(gitruns.UsageError, match="refusing to restore into the git directory"):
            run.artifacts.restore(dest=inside)
    assert not (repo / ".git" / "hooks" / "model.bin").exists()
    assert git(repo, "status", "--porcelain") == before


def test_compare_is_what_diff_json_prints(runs: tuple[Path, str, str, str]) -> None:
    repo, a, b, _c = runs
    before = state(repo)
    result = gitruns.compare(a, b[:10], repo=repo)
    assert result == json.loads(gitrun(repo, "diff", a, b, "--json").stdout)
    assert result["config"]["changed"] == {"lr": {"a": 0.1, "b": 0.5}}
    assert result["metrics"]["loss"]["delta"] == pytest.approx(0.5 / 3 - 0.1 / 3)
    assert result["artifacts"]["changed"]["model.bin"]["a"] == gitruns.load(a, repo=repo).artifacts[0].digest
    with_patch = gitruns.compare(a, b, patch=True, repo=repo)
    assert with_patch["code"]["patch"] == ""  # same code
    gitruns.runs(repo=repo).to_pandas() if _have_pandas() else gitruns.runs(repo=repo).rows()
    gitruns.logs(a, repo=repo)
    assert state(repo) == before  # reading never touches HEAD, the index, the tree or branches


def test_logs_are_what_log_prints(runs: tuple[Path, str, str, str]) -> None:
    repo, a, _b, _c = runs
    assert gitruns.logs(a, "stdout", repo=repo) == gitrun(repo, "log", a, "--stdout").stdout == "trained with 0.1\n"
    assert gitruns.logs(a, "stderr", repo=repo) == "a warning\n"
    assert gitruns.logs(a, repo=repo) == "trained with 0.1\na warning\n"
    assert gitruns.logs(a, "stdout", binary=True, repo=repo) == b"trained with 0.1\n"
    with pytest.raises(gitruns.UsageError, match="stream"):
        gitruns.logs(a, "stdin", repo=repo)


def test_runs_on_a_remote_without_taking_them_in(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed", {"train.py": "print('hi')\n"})
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    a = tmp_path / "a"
    git(tmp_path, "clone", "-q", str(bare), str(a))
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare), str(b))
    rid = _exec(a, "--name", "shared", "--", "python", "train.py")
    assert gitrun(a, "push").returncode == 0
    assert gitruns.runs(repo=b) == []
    [there] = gitruns.runs(remote="origin", repo=b)
    assert (there.id, there.name, there.source) == (rid, "shared", "origin")
    assert [r.id for r in gitruns.runs(remote="", repo=b)] == [rid]  # "": the usual remote
    assert git(b, "for-each-ref", "refs/runs/") == ""  # nothing taken in
    assert gitruns.logs("shared", "stdout", repo=b) == "hi\n"  # readable from its tracking ref


def test_restoring_elsewhere_keeps_the_hooks_directory_safe(tmp_path: Path) -> None:
    """A record cannot reach core.hooksPath in the working tree through a dest above it."""
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    git(repo, "config", "core.hooksPath", ".githooks")
    (repo / ".githooks").mkdir()
    rid = _exec(repo, "-o", "pre-commit", "--", "python", "-c", "open('pre-commit', 'w').write('#!/bin/sh')")
    commit = git(repo, "rev-parse", f"refs/runs/{rid}").strip()
    rec = record(repo, rid)
    rec["artifacts"][0]["path"] = "repo/.githooks/pre-commit"
    tree = _replace_in_record(repo, commit, "run.json", json.dumps(rec, indent=2) + "\n")
    git(repo, "update-ref", f"refs/runs/{rid}", git(repo, "commit-tree", tree, "-p", commit, "-m", "crafted").strip())
    with pytest.raises(gitruns.GitrunsError, match="hooks directory"):
        gitruns.load(rid, repo=repo).artifacts.restore(dest=tmp_path)
    assert not (repo / ".githooks" / "pre-commit").exists()


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        missing("pandas", "is not installed")
    return pandas


def test_to_pandas_has_one_row_per_run(runs: tuple[Path, str, str, str]) -> None:
    pd = _pandas()
    repo, a, b, c = runs
    frame = gitruns.runs(repo=repo).to_pandas()
    assert list(frame["id"]) == [c, b, a]
    assert list(frame.columns[:5]) == ["id", "name", "status", "started", "duration"]
    assert {"params.lr", "params.opt.name", "metrics.loss"} <= set(frame.columns)
    assert list(frame["status"]) == ["failed", "succeeded", "succeeded"]
    assert frame.loc[frame["id"] == b, "params.lr"].item() == 0.5
    assert frame.loc[frame["id"] == a, "metrics.loss"].item() == pytest.approx(0.1 / 3)
    assert pd.isna(frame.loc[frame["id"] == c, "metrics.loss"].item())
    assert str(frame["started"].dt.tz) == "UTC"
    assert frame["duration"].dtype.kind == "f"
    best = frame.sort_values("metrics.loss").iloc[0]
    assert best["name"] == "slow"
    assert gitruns.runs(until="2000-01-01", repo=repo).to_pandas().empty


def test_to_pandas_without_pandas_is_a_clear_error(runs: tuple[Path, str, str, str]) -> None:
    repo, *_ = runs
    code = ("import sys; sys.modules['pandas'] = None\n"
            "import gitruns\n"
            "try:\n    gitruns.runs().to_pandas()\n"
            "except ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert out.stdout == "to_pandas() needs pandas: pip install pandas\n", out.stderr


def test_import_gitruns_stays_light(tmp_path: Path) -> None:
    code = ("import sys, gitruns\n"
            "gitruns.runs, gitruns.load, gitruns.Run\n"  # names only: resolving them is cheap
            "heavy = {'pygit2', 'yaml', 'click', 'jsonschema', 'pandas'} & set(sys.modules)\n"
            "print(sorted(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout == "[]\n", out.stderr
    assert {"runs", "load", "compare", "logs", "Run", "RunList"} <= set(gitruns.__all__)
    assert {"runs", "load", "compare", "logs"} <= set(dir(gitruns))


def test_the_api_never_prints_warnings_go_through_the_warnings_module(
        runs: tuple[Path, str, str, str], capfd: pytest.CaptureFixture[str]) -> None:
    repo, a, _b, _c = runs
    # A run whose config.yaml is refused (too deeply nested): load still works, and says why once.
    deep = "a: " + "[" * 150 + "]" * 150 + "\n"
    commit = git(repo, "rev-parse", f"refs/runs/{a}").strip()
    tree = _replace_in_record(repo, commit, "config.yaml", deep)
    new = git(repo, "commit-tree", tree, "-p", commit, "-m", "crafted").strip()
    git(repo, "update-ref", f"refs/runs/{a}", new)
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        run = gitruns.load(a, repo=repo)
        assert run.config is None and run.params == {}
        gitruns.runs(repo=repo).to_pandas() if _have_pandas() else None
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    messages = [str(w.message) for w in seen if issubclass(w.category, gitruns.GitrunsWarning)]
    assert messages and all("config.yaml refused" in m for m in messages)
    # The CLI shows the same warning as one line.
    proc = gitrun(repo, "show", a, "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["config"] is None
    assert re.fullmatch(r"gitruns: warning: run \w+: config.yaml refused: [^\n]*\n", proc.stderr), proc.stderr


def _have_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def _replace_in_record(repo: Path, commit: str, name: str, text: str) -> str:
    """The tree of ``commit`` with .gitruns/<name> replaced by ``text``."""
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=text, capture_output=True,
                          text=True, check=True).stdout.strip()
    entries = git(repo, "ls-tree", f"{commit}:.gitruns")
    lines = [line for line in entries.splitlines() if not line.endswith(f"\t{name}")]
    lines.append(f"100644 blob {blob}\t{name}")
    sub = subprocess.run(["git", "mktree"], cwd=repo, input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True).stdout.strip()
    top = [line for line in git(repo, "ls-tree", commit).splitlines() if not line.endswith("\t.gitruns")]
    top.append(f"040000 tree {sub}\t.gitruns")
    return subprocess.run(["git", "mktree"], cwd=repo, input="\n".join(top) + "\n", capture_output=True,
                          text=True, check=True).stdout.strip()


# --- listings' machine output ------------------------------------------------------------


def test_ls_jsonl_and_csv(runs: tuple[Path, str, str, str]) -> None:
    repo, a, b, c = runs
    as_json = json.loads(gitrun(repo, "ls", "--json").stdout)
    proc = gitrun(repo, "ls", "--jsonl")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and [json.loads(line) for line in lines] == as_json
    assert gitrun(repo, "ls", "--jsonl", "--status", "canceled").stdout == ""
    proc = gitrun(repo, "ls", "--csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(rows[0]) == ["id", "name", "status", "started", "duration", "params.lr", "params.opt.name",
                             "metrics.loss"]
    assert [r["id"] for r in rows] == [c, b, a]
    assert rows[1]["params.lr"] == "0.5" and rows[2]["name"] == "slow" and rows[0]["metrics.loss"] == ""
    assert rows[0]["started"] == record(repo, c)["started_at"]
    assert float(rows[1]["metrics.loss"]) == pytest.approx(0.5 / 3)
    empty = subprocess.run(["git", "run", "ls", "--csv", "--status", "canceled"], cwd=repo, capture_output=True)
    assert empty.stdout == b"id,name,status,started,duration\r\n"  # RFC 4180 line ends
    bad = gitrun(repo, "ls", "--json", "--csv")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--csv" in bad.stderr and "--json" in bad.stderr


def test_csv_cells_from_records_cannot_be_formulas_and_keep_newlines(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    rid = _exec(repo, "--name", "=HYPERLINK(\"http://evil\")", "-p", "note=\"two\\nlines\"", "-p", "delta=-1",
                "--", "python", "-c", "pass")
    proc = gitrun(repo, "ls", "--csv")
    [row] = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert row["id"] == rid
    assert row["name"] == "'=HYPERLINK(\"http://evil\")"
    assert row["params.note"] == "two\nlines"
    assert row["params.delta"] == "-1"  # a number stays a number


def test_python_md_examples_run(tmp_path: Path) -> None:
    """Every python block of docs/python.md, in order, in a fresh repository: the doc cannot rot."""
    _pandas()  # the example uses to_pandas()
    text = DOC.read_text()
    repo = make_repo(tmp_path / "project", {".gitignore": "model.bin\n"})
    blocks: list[str] = []
    for info, body in re.findall(r"^```(python[^\n]*)\n(.*?)^```$", text, flags=re.M | re.S):
        words = info.split()
        if len(words) > 1:  # ```python train.py: a file of the project
            (repo / words[1]).write_text(body)
        else:
            blocks.append(body)
    assert len(blocks) >= 4
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "project")
    code = "\n".join(blocks)
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (repo / "model.bin").exists()


# --- the pure parts, in process -------------------------------------------------------------


@pytest.mark.parametrize(("value", "cell"), [
    (None, ""), (True, "true"), (3, 3), (-0.5, -0.5), ("plain", "plain"),
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("a\nb", "a\nb"), ("\x1b[31mred", "^[[31mred"), ([1, "a"], '[1, "a"]'),
])
def test_csv_cell(value: object, cell: object) -> None:
    from gitruns.outputformat import csv_cell

    assert csv_cell(value) == cell


def test_json_outputs_escape_what_a_terminal_would_obey() -> None:
    from gitruns.outputformat import json_array, json_lines

    records = [{"name": "a\x1b]0;title\x07\u202e"}, {"name": "b"}]
    assert json_lines(records) == '{"name": "a\\u001b]0;title\\u0007\\u202e"}\n{"name": "b"}\n'
    assert json.loads(json_array(records)) == records
    assert json_array([]) == "[]\n" and json_lines([]) == ""


def test_output_options_give_one_format() -> None:
    import click
    from click.testing import CliRunner

    from gitruns.outputformat import output_options

    @click.command()
    @click.option("--limit", type=int)
    @output_options()
    def listing(limit: int | None, output: str | None) -> None:
        click.echo(f"{limit} {output}")

    runner = CliRunner()
    assert runner.invoke(listing, []).output == "None None\n"
    assert runner.invoke(listing, ["--jsonl", "--limit", "2"]).output == "2 jsonl\n"
    assert runner.invoke(listing, ["--csv"]).output == "None csv\n"
    bad = runner.invoke(listing, ["--csv", "--json"])
    assert bad.exit_code == 2 and "--json and --csv cannot be used together" in bad.output


def test_push_fetch_pull_from_python_as_the_verbs(tmp_path: Path) -> None:
    """gitruns.push/fetch/pull are the functions the verbs call: the same result, the
    same summary as --json, through a real bare remote and its directory store."""
    from test_sharing import clone, model_run, origin

    url, bare = origin(tmp_path)
    store = tmp_path / "store"
    a = clone(url, tmp_path / "a")
    git(a, "config", "remote.origin.gitrunsStore", str(store))
    rid, digest = model_run(a)
    before = state(a)
    pushed = gitruns.push(repo=a)
    assert isinstance(pushed, gitruns.PushResult)
    summary = pushed.to_dict()
    assert summary["remote"] == "origin" and summary["pushed"] == [rid] and summary["ok"] is True
    assert summary["artifacts"]["uploaded"] >= 1
    assert git(bare, "rev-parse", f"refs/runs/{rid}").strip() == git(a, "rev-parse", f"refs/runs/{rid}").strip()
    assert state(a) == before
    # Pushing again: nothing new, as 'git run push --json' says.
    again = gitruns.push("origin", [rid], repo=str(a)).to_dict()
    cli = json.loads(gitrun(a, "push", "--json").stdout)
    assert again["pushed"] == cli["pushed"] == [] and again["up_to_date"] == cli["up_to_date"] == [rid]
    b = clone(url, tmp_path / "b")
    git(b, "config", "remote.origin.gitrunsStore", str(store))
    fetched = gitruns.fetch(repo=b)
    assert isinstance(fetched, gitruns.FetchResult) and fetched.to_dict()["new"] == [rid]
    assert gitruns.pull(repo=b).to_dict()["unchanged"] == [rid]
    run = gitruns.load(rid, repo=b)
    assert run.artifacts.restore() == ["model.bin"]
    assert git(b, "hash-object", "model.bin").strip() == git(a, "hash-object", "model.bin").strip()
    assert digest.startswith("xxh3_128:")


def test_import_gitruns_loads_only_what_logging_needs() -> None:
    """A training script pays for `import gitruns` on every start: no typing, json or
    re (tens of milliseconds together), let alone pygit2."""
    code = ("import sys, gitruns; heavy = ('typing', 'json', 're', 'pygit2', 'yaml', 'click'); "
            "print(' '.join(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert out.stdout.split() == []


def test_every_public_name_stays_what_it_is_whatever_was_imported_before() -> None:
    """Python sets a package's attribute to a submodule when that submodule is first
    imported: a public function named as its module (gitruns.rerun was, in rerun.py)
    became the module once anything imported the module first.  Here every submodule
    is imported first, then every public name is looked up."""
    code = ("import importlib, pkgutil, types, gitruns\n"
            "for m in pkgutil.walk_packages(gitruns.__path__, 'gitruns.'):\n"
            "    if m.name != 'gitruns.__main__':\n"
            "        importlib.import_module(m.name)\n"
            "bad = [n for n in gitruns.__all__ if isinstance(getattr(gitruns, n), types.ModuleType)]\n"
            "print(' '.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []
    assert callable(gitruns.rerun) and callable(gitruns.lineage) and callable(gitruns.which)
