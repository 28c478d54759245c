"""Pipeline step 2: fit y = w x + b on data/train.csv by gradient descent; write model.json.

The learning rate and epochs come as arguments, filled in from the config by
${train.lr} and ${train.epochs} in gitruns.yaml; the loss is logged per epoch.
"""
import csv
import json
import sys

import gitruns

lr, epochs = float(sys.argv[1]), int(sys.argv[2])
with open("data/train.csv") as fh:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh)]
w, b = 0.0, 0.0
for epoch in range(epochs):
    gw = sum(2 * (w * x + b - y) * x for x, y in rows) / len(rows)
    gb = sum(2 * (w * x + b - y) for x, y in rows) / len(rows)
    w, b = w - lr * gw, b - lr * gb
    gitruns.log_metric("loss", sum((w * x + b - y) ** 2 for x, y in rows) / len(rows), step=epoch)
with open("model.json", "w") as fh:
    json.dump({"w": w, "b": b}, fh)
print(f"model: y = {w:.3f} x + {b:.3f}")
