#!/bin/sh
# End-to-end tour on the bundled example: a fresh git repository, two runs with
# different parameters (the second passes its seed as an argument with ${key}),
# the list of runs, their difference, the same runs read back from Python, a
# pipeline (gitruns.yaml) run twice (the second reuses the steps that did not
# change), a reproduction with its verdict, a rerun with one change, a sweep, a
# query over the runs, lineage by content, a promotion and a retirement.
# Needs git-run on PATH (see the README's first command).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gitruns-demo.XXXXXX")
cp -r "$here/quickstart/." "$work/"
cd "$work"
git init -q
git add -A
git -c user.name=demo -c user.email=demo@example.com commit -qm "linear regression example"
echo "== demo repository: $work"

echo "== git run exec (lr=0.005, from params.yaml)"
git run exec --name slow -c params.yaml -i data.csv -o model.json -- python train.py | tail -n 2
echo "== git run exec (lr=0.02, overridden with -p)"
git run exec --name fast -c params.yaml -p train.lr=0.02 -i data.csv -o model.json -- python train.py | tail -n 2
echo "== git run exec with a config value as an argument (\${train.epochs})"
git run exec --name echo -c params.yaml -- python -c 'import sys; print("epochs from the command line:", sys.argv[1])' '${train.epochs}'

echo "== git run ls"
git run ls
echo "== git run diff slow fast"
git run diff slow fast
echo "== git run ls --jsonl (one record a line, for jq and pandas)"
git run ls --jsonl --limit 1 | python -c 'import json, sys; r = json.loads(sys.stdin.readline()); print(r["id"], r["name"], r["status"], r["command"])'
echo "== from Python: gitruns.runs(), load(), compare()"
python - <<'PY'
import gitruns
trained = [r for r in gitruns.runs(status="succeeded") if "loss" in r.metrics]
best = min(trained, key=lambda r: r.metrics["loss"])
print(f"best run: {best.name} ({best.id[:8]}), lr={best.config['train']['lr']}, loss={best.metrics['loss']:.5f}")
print("artifacts:", [(a.path, a.digest[:18]) for a in gitruns.load(best.id).artifacts])
print("config differs in:", sorted(gitruns.compare("slow", "fast")["config"]["changed"]))
PY
echo "== git run pipeline -j 2 (gitruns.yaml: prepare -> train -> evaluate, describe beside them)"
git run pipeline -j 2 --name pipe-slow
echo "== git run show pipe-slow (the step graph)"
git run show pipe-slow
echo "== git run pipeline -p train.lr=0.02: prepare and describe are reused, train and evaluate run"
git run pipeline --name pipe-fast -p train.lr=0.02
echo "== git run diff pipe-slow pipe-fast (step by step)"
git run diff pipe-slow pipe-fast
echo "== git run log pipe-fast --step train"
git run log pipe-fast --step train
echo "== git run reproduce fast: the run again, exactly, in a temporary worktree, and a verdict"
git run reproduce fast | tail -n 6
echo "== git run rerun fast -p train.lr=0.01: the same run with one intended change"
git run rerun fast -p train.lr=0.01 | tail -n 1
echo "== git run diff fast <its rerun>: the intended change apart from the incidental ones"
git run diff fast "$(git run ls --json --limit 1 | python -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')" | head -n 4
echo "== git run sweep: three learning rates, two at a time, sorted by loss"
git run sweep -c params.yaml -p train.lr=0.005,0.01,0.02 -j 2 --sort loss -- python train.py
echo "== git run ls --where/--sort/--columns: succeeded runs with loss under 0.7, best first"
git run ls --where 'metrics.loss < 0.7 and status = succeeded' --sort metrics.loss --columns params.train.lr,metrics.loss
echo "== git run which model.json: the run that wrote the file in the working tree (by content)"
git run which model.json
echo "== git run exec -i model.json: a report built on that model (linked to it by digest)"
git run exec --name report -i model.json -o report.txt -- python -c 'import json; m = json.load(open("model.json")); open("report.txt", "w").write(str(m) + "\n")' | tail -n 1
echo "== git run lineage report: what it came from"
git run lineage report --upstream
echo "== git run promote fast model.json --as demo/model: a stable name, with the criteria it met"
git run promote fast model.json --as demo/model --reason "lowest loss of the first two runs" --where 'metrics.loss < 0.6'
git run verify demo/model
echo "== git run retire slow: withdrawn (ls hides it), superseded by fast"
git run retire slow --reason "learning rate too low" --superseded-by fast
git run ls --all --where 'name ~ "s*"' --columns metrics.loss
echo "== plain git: git log --graph refs/runs/<report>: its timeline, and the run it came from as a further parent"
git log --oneline --graph -n 6 "$(git for-each-ref --format='%(refname)' --count=1 --sort=-refname refs/runs/)"
echo "== git fsck --strict"
git fsck --strict --no-progress && echo "clean"
