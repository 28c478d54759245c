#!/bin/sh
# End-to-end tour on the bundled example: a fresh git repository, two runs with
# different parameters (the second passes its seed as an argument with ${key}),
# the list of runs, their difference, the same runs read back from Python, a
# pipeline (gitruns.yaml) run twice (the second reuses the steps that did not
# change), a reproduction with its verdict, a rerun with one change, and a sweep.
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
echo "== plain git: git log --oneline refs/runs/<id>"
git log --oneline "$(git for-each-ref --format='%(refname)' --count=1 --sort=-refname refs/runs/)"
echo "== git fsck --strict"
git fsck --strict --no-progress && echo "clean"
