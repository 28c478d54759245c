#!/bin/sh
# End-to-end tour on the bundled example: a fresh git repository, two runs with
# different parameters, the list of runs, and their difference.
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

echo "== git run ls"
git run ls
echo "== git run diff slow fast"
git run diff slow fast
echo "== plain git: git log --oneline refs/runs/<id>"
git log --oneline "$(git for-each-ref --format='%(refname)' --count=1 --sort=-refname refs/runs/)"
echo "== git fsck --strict"
git fsck --strict --no-progress && echo "clean"
