"""A small, real training script: linear regression by gradient descent on data.csv.

It reads its configuration from the file gitruns hands it ($GITRUNS_CONFIG_FILE),
logs the loss every epoch, and writes the fitted model to model.json.
"""
import csv
import json
import os

import yaml

import gitruns

config_path = gitruns.config_path() or "params.yaml"
with open(config_path) as fh:
    cfg = yaml.safe_load(fh) or {}
lr = float(cfg["train"]["lr"])
epochs = int(cfg["train"]["epochs"])

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data.csv")) as fh:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh)]

w, b = 0.0, 0.0
for epoch in range(epochs):
    gw = sum(2 * (w * x + b - y) * x for x, y in rows) / len(rows)
    gb = sum(2 * (w * x + b - y) for x, y in rows) / len(rows)
    w, b = w - lr * gw, b - lr * gb
    loss = sum((w * x + b - y) ** 2 for x, y in rows) / len(rows)
    gitruns.log_metric("loss", loss, step=epoch)
    print(f"epoch {epoch:3d}  loss {loss:.5f}")

with open("model.json", "w") as fh:
    json.dump({"w": w, "b": b}, fh)
print(f"model: y = {w:.3f} x + {b:.3f}")
