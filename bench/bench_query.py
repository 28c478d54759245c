"""Queries over many runs (issue 11): `git run ls --where/--sort/--limit`, the index's
full rebuild, `ls --json` memory, `show`/`diff` by id and name, beside the floors
`git run --version` and `git for-each-ref refs/runs` measured in the same run; and
MLflow's `search_runs` on the same 5,000 runs when MLflow is installed.

    .venv/bin/python bench/bench_query.py [RUNS...]      # default: 10000 100000

Synthetic runs are written through gitruns' own store (one final commit per run,
`gitruns.runrefs.write`), as bench_ls does, then `git pack-refs --all` and `git gc`
as a repository with many runs would be. They vary as a sweep does: params (lr,
batch, opt) in a config.yaml of their own, metrics (acc, loss), names (sweep-N),
tags, about 5% failed; env.json lists 300 packages and is one blob shared by most
runs (a few environments in all, as when a package is upgraded now and then).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from common import env, median_of, run, scratch_repo, template_run

HERE = os.path.dirname(os.path.abspath(__file__))
WHERE = "metrics.acc > 0.9"


def _packages(variant: int) -> dict[str, str]:
    rng = random.Random(7)
    out = {f"package-{k:03d}": f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}" for k in range(300)}
    out.update({"numpy": "2.1.3", "torch": f"2.{4 + variant}.0", "pandas": "2.2.3", "scikit-learn": "1.5.2"})
    return out


def _config(i: int, rng: random.Random) -> tuple[dict[str, object], bytes]:
    lr = [0.1, 0.03, 0.01, 0.003, 0.001][i % 5]
    batch = [16, 32, 64, 128][(i // 5) % 4]
    opt = ["adam", "sgd", "adamw"][(i // 20) % 3]
    params: dict[str, object] = {"lr": lr, "batch": batch, "opt": opt, "seed": i}
    text = (f"model:\n  name: resnet{[18, 34, 50][i % 3]}\n  dropout: {rng.choice([0.0, 0.1, 0.2, 0.3])}\n"
            f"  layers: [64, 128, 256, 512]\ntrain:\n  lr: {lr}\n  batch: {batch}\n  opt: {opt}\n"
            f"  epochs: {rng.randint(5, 50)}\n  seed: {i}\ndata:\n  path: data/train.csv\n"
            f"  augment: {'true' if i % 2 else 'false'}\n  workers: 4\n")
    return params, text.encode()


def populate(repo: str, count: int, seed: int = 11) -> None:
    """``count`` synthetic runs in ``repo`` (made with bench.common.scratch_repo)."""
    import pygit2

    from gitruns import record, runid, runrefs
    from gitruns.timeutil import iso

    run(["git", "run", "exec", "--name", "template", "--", "python", "-c",
         "import gitruns; gitruns.log_metric('loss', 0.5)"], cwd=repo)
    # this process made every object it refers to: libgit2 need not look each one up again
    pygit2.option(pygit2.enums.Option.ENABLE_STRICT_OBJECT_CREATION, False)
    r, rid, template, files = template_run(repo)
    env_doc = json.loads(files["env.json"])
    envs = []
    for variant in range(3):
        doc = json.loads(json.dumps(env_doc))
        doc.setdefault("python", {})["packages"] = _packages(variant)
        envs.append(json.dumps(doc, indent=2, sort_keys=True).encode())
    head = str(r.git.head.target)
    snapshot = template["code"]["snapshot_tree"]
    rng = random.Random(seed)
    start = time.time() - count * 60.0
    for i in range(count):
        rec = json.loads(json.dumps(template))
        began = start + i * 60.0
        duration = rng.uniform(20.0, 50.0)
        params, config = _config(i, rng)
        failed = rng.random() < 0.05
        acc = round(rng.betavariate(8, 2), 4)
        rec["id"] = runid.new_id(int(began * 1000))
        rec["name"] = f"sweep-{i}"
        rec["status"] = "failed" if failed else "succeeded"
        rec["exit_code"] = 1 if failed else 0
        rec["started_at"] = iso(dt.datetime.fromtimestamp(began, dt.timezone.utc))
        rec["ended_at"] = iso(dt.datetime.fromtimestamp(began + duration, dt.timezone.utc))
        rec["duration_s"] = round(duration, 3)
        rec["params"] = params
        rec["metrics"] = {} if failed else {"acc": acc, "loss": round(1.0 - acc + rng.random() * 0.1, 4)}
        rec["tags"] = {"sweep": f"s{i // 1000}", "owner": ["ana", "bo", "chen"][i % 3]}
        run_files = dict(files)
        run_files["config.yaml"] = config
        run_files["env.json"] = envs[0 if i % 50 else (i // 50) % 3]
        runrefs.write(r, record.upgrade(rec), run_files, snapshot, [head], None)
    # the template stays: it is one more run
    run(["git", "pack-refs", "--all"], cwd=repo)
    run(["git", "gc", "-q"], cwd=repo)


QUERY_NOTES = [
    "Targets of issue 11 at 100,000 runs: `ls --where ... --limit 20` under 0.3 s warm (also",
    "with `--sort -metrics.acc`, and `ls -n 10`); a full rebuild of the index under 10 s;",
    "`ls --json` of every run streaming in under 200 MB; `show`/`diff` by id or name under",
    "0.3 s; at 10,000 runs every listing under 0.2 s warm. The synthetic runs: params",
    "(lr, batch, opt) in a config.yaml of their own, metrics acc and loss, names",
    "sweep-N, two tags, about 5% failed; env.json lists 300 packages and is one of three",
    "blobs shared by all runs. They all share one `run_group` (the template run's), the",
    "worst case for the listing's 'latest of its group' marks.",
    "",
    "What the run index does to get there (gitruns/runindex.py):",
    "",
    "- env.packages.* are kept once per env.json blob (`env_attrs`, with `run_env` mapping",
    "  each run to its blob), not once per run: with 300 packages a run the first index",
    "  held 650 rows a run, 234 MB at 2,000 runs (about 12 GB at 100,000) and took 2",
    "  minutes to build at 2,000 runs; now 22 rows a run, 9 KB a run.",
    "- A missing index is built whole in a file of its own without a journal",
    "  (`index.sqlite.<pid>.new`, renamed into place), its secondary indexes made once",
    "  after the rows, in chunks of 10,000 records (memory stays flat). A rebuild into an",
    "  index without its indexes must not DELETE by commit: each would scan every row so",
    "  far (quadratic: the first 100,000-run rebuild had not finished after 5 minutes).",
    "- config.yaml of the common simple shape (block mappings, plain scalars, one-line",
    "  lists) is read by a small reader that agrees with PyYAML's SafeLoader on all it",
    "  accepts (tests/unit/test_runindex_yaml.py) and hands anything else to it: PyYAML's",
    "  Python composer (needed to count nodes after alias expansion) cost about 1 ms a",
    "  file. Numbers become text without json.dumps; ASCII rows skip the surrogate clean-up.",
    "- A warm open touches no ref: the stat fingerprint of packed-refs and the ref",
    "  directories matches. The groups of several runs (for 'latest') are kept at each",
    "  sync instead of grouped on every listing; refusals are looked up from the",
    "  (usually empty) refusals table, not from every visible run; records read back",
    "  from the index are parsed without measuring their size and depth a second time.",
]


def _gitrun(repo: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "run", *args], cwd=repo, env=env(), capture_output=True, text=True, check=True)


def _index_files(repo: str) -> list[str]:
    base = os.path.join(repo, ".git", "gitruns", "index.sqlite")
    return [base + s for s in ("", "-wal", "-shm")]


def _drop_index(repo: str) -> None:
    for path in _index_files(repo):
        if os.path.exists(path):
            os.unlink(path)


def peak_rss_mb(argv: list[str], cwd: str) -> float:
    """Peak RSS of the largest process ``argv`` starts (git-run under git), in MB."""
    code = ("import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, env=env(), capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1]) / 1024


def _ms(t: float) -> str:
    return f"{t * 1000:.0f} ms"


def measure(repo: str, size: int, repeat: int = 5) -> dict[str, float]:
    """Seconds (median of ``repeat``, warm index) of each listing, and the rebuild."""
    out: dict[str, float] = {}
    out["floor_version"] = median_of(lambda: run(["git", "run", "--version"], cwd=repo), repeat)
    out["floor_refs"] = median_of(lambda: run(["git", "for-each-ref", "refs/runs"], cwd=repo), repeat)
    _drop_index(repo)
    started = time.perf_counter()
    run(["git", "run", "ls", "-n", "1"], cwd=repo)
    out["rebuild"] = time.perf_counter() - started
    listed = _gitrun(repo, "ls", "--json", "--where", WHERE, "--limit", "20").stdout
    assert len(json.loads(listed)) == 20, listed[:200]
    commands = {
        "ls_n10": ["ls", "-n", "10"],
        "ls_n20": ["ls", "-n", "20"],
        "where": ["ls", "--where", WHERE, "--limit", "20"],
        "where_sort": ["ls", "--where", WHERE, "--sort", "-metrics.acc", "--limit", "20"],
        "ls_json": ["ls", "--json"],
    }
    for key, args in commands.items():
        out[key] = median_of(lambda a=args: run(["git", "run", *a], cwd=repo), repeat)  # type: ignore[misc]
    ids = [r["id"] for r in json.loads(_gitrun(repo, "ls", "--json", "-n", "2").stdout)]
    out["show_id"] = median_of(lambda: run(["git", "run", "show", ids[0]], cwd=repo), repeat)
    out["show_name"] = median_of(lambda: run(["git", "run", "show", f"sweep-{size // 2}"], cwd=repo), repeat)
    out["diff_names"] = median_of(lambda: run(["git", "run", "diff", f"sweep-{size // 3}", f"sweep-{size // 2}"],
                                              cwd=repo), repeat)
    out["json_rss_mb"] = peak_rss_mb(["git", "run", "ls", "--json"], repo)
    count = subprocess.run(["git", "for-each-ref", "refs/runs"], cwd=repo, env=env(), capture_output=True,
                           text=True).stdout.count("\n")
    assert count == size + 1, (count, size)
    return out


def rows(sizes: tuple[int, ...] = (10000, 100000), repeat: int = 5) -> list[str]:
    lines = ["| runs | populate | floor `git run --version` | `git for-each-ref refs/runs` | index rebuild "
             "(`ls -n 1`, no index) | `ls -n 10` | `ls -n 20` | `ls --where 'metrics.acc > 0.9' --limit 20` | "
             "same `--sort -metrics.acc` | `ls --json` (all) | `ls --json` peak RSS | `show ID` | `show NAME` | "
             "`diff NAME1 NAME2` |",
             "|" + "---|" * 14]
    for size in sizes:
        repo = scratch_repo()
        started = time.perf_counter()
        populate(repo, size)
        made = time.perf_counter() - started
        m = measure(repo, size, repeat)
        floor = m["floor_version"]

        def cell(key: str, m: dict[str, float] = m, floor: float = floor) -> str:
            return f"{_ms(m[key])} ({m[key] / floor:.1f}x)"

        lines.append(f"| {size:,} | {made:.0f} s | {_ms(floor)} | {_ms(m['floor_refs'])} | {m['rebuild']:.1f} s | "
                     f"{cell('ls_n10')} | {cell('ls_n20')} | {cell('where')} | {cell('where_sort')} | "
                     f"{cell('ls_json')} | {m['json_rss_mb']:.0f} MB | {cell('show_id')} | {cell('show_name')} | "
                     f"{cell('diff_names')} |")
        shutil.rmtree(repo, ignore_errors=True)
    lines += ["", "(ratios against the floor `git run --version`, measured in the same run)"]
    return lines


# --- MLflow, side by side ------------------------------------------------------------------------


MLFLOW_SCRIPT = r'''
import json, os, random, sys, time, warnings
warnings.filterwarnings("ignore")
import mlflow
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric, Param, RunTag
uri, count, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mlflow.set_tracking_uri(uri)
client = MlflowClient()
exp = client.create_experiment("sweep")
rng = random.Random(11)
t0 = time.time()
for i in range(count):
    run = client.create_run(exp, run_name=f"sweep-{i}", tags={"sweep": f"s{i // 1000}"})
    acc = round(rng.betavariate(8, 2), 4)
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id,
                     metrics=[Metric("acc", acc, now, 0), Metric("loss", round(1 - acc, 4), now, 0)],
                     params=[Param("lr", str([0.1, 0.03, 0.01, 0.003, 0.001][i % 5])),
                             Param("batch", str([16, 32, 64, 128][(i // 5) % 4])),
                             Param("opt", ["adam", "sgd", "adamw"][(i // 20) % 3])])
    client.set_terminated(run.info.run_id, "FAILED" if rng.random() < 0.05 else "FINISHED")
made = time.time() - t0
times = []
for _ in range(repeat):
    t = time.perf_counter()
    found = client.search_runs([exp], "metrics.acc > 0.9", order_by=["metrics.acc DESC"], max_results=20)
    times.append(time.perf_counter() - t)
    assert len(found) == 20
times.sort()
print(json.dumps({"made": made, "search": times[len(times) // 2], "version": mlflow.__version__}))
'''


def mlflow_rows(count: int = 5000, repeat: int = 5) -> list[str]:
    """MLflow's search_runs (in-process: no Python start-up counted) beside `git run ls
    --where` (a whole command), on ``count`` runs each; needs $MLFLOW_PYTHON, a Python
    with mlflow-skinny installed."""
    python = os.environ.get("MLFLOW_PYTHON")
    if not python:
        return ["MLflow not measured: set MLFLOW_PYTHON to a Python with mlflow-skinny installed."]
    repo = scratch_repo()
    populate(repo, count)
    run(["git", "run", "ls", "-n", "1"], cwd=repo)
    where = median_of(lambda: run(["git", "run", "ls", "--where", WHERE, "--sort", "-metrics.acc", "--limit", "20"],
                                  cwd=repo), repeat)
    floor = median_of(lambda: run(["git", "run", "--version"], cwd=repo), repeat)
    out = []
    for label, make_uri in (("sqlite backend", lambda d: "sqlite:///" + os.path.join(d, "mlflow.db")),
                            ("file store", lambda d: "file://" + os.path.join(d, "mlruns"))):
        work = tempfile.mkdtemp(prefix="gitruns-mlflow-")
        try:
            res = subprocess.run([python, "-c", MLFLOW_SCRIPT, make_uri(work), str(count), str(repeat)],
                                 capture_output=True, text=True, check=True, cwd=work,
                                 env=dict(os.environ, MLFLOW_ALLOW_FILE_STORE="true"))
            data = json.loads(res.stdout.strip().splitlines()[-1])
            out.append(f"| MLflow {data['version']} `search_runs('metrics.acc > 0.9', order_by acc DESC, "
                       f"max_results=20)`, {label}, in-process | {count:,} | {_ms(data['search'])} | "
                       f"{data['search'] / where:.1f}x |")
        except (subprocess.CalledProcessError, ValueError, IndexError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            out.append(f"| MLflow, {label}: failed ({detail.strip().splitlines()[-1][:80] if detail else exc}) "
                       f"| {count:,} | - | - |")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(repo, ignore_errors=True)
    return ["| what | runs | time (median) | ratio to `git run ls --where` |", "|---|---|---|---|",
            f"| `git run ls --where '{WHERE}' --sort -metrics.acc --limit 20`, a whole command | {count:,} | "
            f"{_ms(where)} | 1.0x |",
            f"| floor `git run --version` | | {_ms(floor)} | {floor / where:.1f}x |", *out]


def lineage_rows(length: int = 10000, repeat: int = 3) -> list[str]:
    """`git run lineage FIRST --downstream` over a chain of ``length`` runs, each consuming
    the previous one's artifact (when the lineage verb exists)."""
    probe = subprocess.run(["git", "run", "lineage", "-h"], env=env(), capture_output=True, text=True)
    if probe.returncode != 0:
        return ["`git run lineage` is not in this build: not measured."]
    return _lineage(length, repeat)


def _lineage(length: int, repeat: int) -> list[str]:

    from gitruns import record, runid, runrefs

    repo = scratch_repo()
    run(["git", "run", "exec", "--name", "template", "--", "true"], cwd=repo)
    r, rid, template, files = template_run(repo)
    head = str(r.git.head.target)
    snapshot = template["code"]["snapshot_tree"]
    start = time.time() - length * 60.0
    previous: tuple[str, str, str] | None = None  # (run id, commit, digest)
    first = ""
    for i in range(length):
        rec = json.loads(json.dumps(template))
        rec["id"] = runid.new_id(int((start + i * 60.0) * 1000))
        rec["name"] = f"chain-{i}"
        digest = f"xxh3_128:{i:032x}"  # valid records: the index checks each against the schema
        rec["artifacts"] = [{"path": f"out/step{i}.bin", "source": "output", "status": "stored", "kind": "file",
                             "digest": digest, "size": 1}]
        parents = [head]
        if previous is not None:
            rec["inputs"] = [{"path": f"out/step{i - 1}.bin", "kind": "file", "digest": previous[2], "size": 1}]
            rec["upstream"] = [{"run": previous[0], "commit": previous[1], "digest": previous[2],
                                "path": f"out/step{i - 1}.bin", "artifact": f"out/step{i - 1}.bin", "step": None}]
            parents.append(previous[1])
        c = runrefs.write(r, record.upgrade(rec), files, snapshot, parents, None)
        previous = (rec["id"], c, digest)
        first = first or rec["id"]
    run(["git", "pack-refs", "--all"], cwd=repo)
    run(["git", "run", "ls", "-n", "1"], cwd=repo)
    found = _gitrun(repo, "lineage", first, "--downstream", "--json").stdout
    assert previous is not None and previous[0] in found, found[:300]  # the whole chain, to its last run
    t = median_of(lambda: run(["git", "run", "lineage", first, "--downstream"], cwd=repo), repeat)
    tj = median_of(lambda: run(["git", "run", "lineage", first, "--downstream", "--json"], cwd=repo), repeat)
    floor = median_of(lambda: run(["git", "run", "--version"], cwd=repo), repeat)
    shutil.rmtree(repo, ignore_errors=True)
    return ["| what | time (median) | ratio to floor |", "|---|---|---|",
            f"| `git run lineage FIRST --downstream`, chain of {length:,} runs | {_ms(t)} | {t / floor:.1f}x |",
            f"| same, `--json` | {_ms(tj)} | {tj / floor:.1f}x |",
            f"| floor `git run --version` | {_ms(floor)} | 1.0x |"]


def main() -> list[str]:
    sizes = tuple(int(a) for a in sys.argv[1:] if a.isdigit()) or (10000, 100000)
    return rows(sizes)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    print("\n".join(main()))
