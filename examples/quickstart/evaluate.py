"""Pipeline step 3: the model's mean squared error on data/test.csv, into eval/metrics.json."""
import csv
import json
import os

with open("model.json") as fh:
    model = json.load(fh)
with open("data/test.csv") as fh:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh)]
mse = sum((model["w"] * x + model["b"] - y) ** 2 for x, y in rows) / len(rows)
os.makedirs("eval", exist_ok=True)
with open("eval/metrics.json", "w") as fh:
    json.dump({"test_mse": mse}, fh)
print(f"test mse {mse:.5f}")
