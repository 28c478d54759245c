"""Pipeline step 1: split data.csv into data/train.csv and data/test.csv.

Every fourth row (holdout 0.25, from params.yaml) goes to the test set, so the
split is the same on every run with the same data and parameter.
"""
import csv
import os
import sys

holdout = float(sys.argv[1])
every = max(2, round(1 / holdout))
with open("data.csv") as fh:
    rows = list(csv.DictReader(fh))
os.makedirs("data", exist_ok=True)
for name, keep in (("train", lambda i: i % every), ("test", lambda i: not i % every)):
    with open(f"data/{name}.csv", "w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=["x", "y"])
        out.writeheader()
        out.writerows(r for i, r in enumerate(rows) if keep(i))
print(f"{len(rows)} rows: every {every}th to data/test.csv")
