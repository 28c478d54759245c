"""A tiny stand-in for DVC get-started's src/evaluate.py: scores the model on
both splits into eval/metrics.json and the plot files the top-level plots of
dvc.yaml name (eval/plots/...).  Standard library only."""
import json
import os
import pickle
import sys
import zlib

EVAL_PATH = "eval"


def scores(model, matrix):
    return [sum(w * x for w, x in zip(model["weights"], row[2], strict=True)) for row in matrix]


def write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=4)


def tiny_png(path):
    """A 1x1 grey PNG, standing in for the feature importance plot."""
    def chunk(kind, data):
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", bytes([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]))
    png += chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(png)


def evaluate(model, matrix, split, summary):
    labels = [row[1] for row in matrix]
    predicted = scores(model, matrix)
    order = sorted(range(len(labels)), key=lambda i: -predicted[i])
    pos = sum(labels) or 1
    neg = (len(labels) - sum(labels)) or 1
    tp = fp = 0
    roc, prc, precisions = [], [], []
    for i in order:
        tp += labels[i]
        fp += 1 - labels[i]
        roc.append({"fpr": fp / neg, "tpr": tp / pos, "threshold": predicted[i]})
        prc.append({"precision": tp / (tp + fp), "recall": tp / pos, "threshold": predicted[i]})
        if labels[i]:
            precisions.append(tp / (tp + fp))
    steps = zip([{"fpr": 0, "tpr": 0}, *roc], roc, strict=False)
    auc = sum((b["fpr"] - a["fpr"]) * (a["tpr"] + b["tpr"]) / 2 for a, b in steps)
    summary["avg_prec"][split] = sum(precisions) / pos
    summary["roc_auc"][split] = auc
    plots = os.path.join(EVAL_PATH, "plots", "sklearn")
    write_json(os.path.join(plots, "roc", f"{split}.json"), {"roc": roc})
    write_json(os.path.join(plots, "prc", f"{split}.json"), {"prc": prc})
    cm = [{"actual": str(y), "predicted": str(int(p > 0))} for y, p in zip(labels, predicted, strict=True)]
    write_json(os.path.join(plots, "cm", f"{split}.json"), cm)


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: python evaluate.py model features\n")
        sys.exit(1)
    with open(sys.argv[1], "rb") as fh:
        model = pickle.load(fh)
    summary = {"avg_prec": {}, "roc_auc": {}}
    for split in ("train", "test"):
        with open(os.path.join(sys.argv[2], f"{split}.pkl"), "rb") as fh:
            matrix, _ = pickle.load(fh)
        evaluate(model, matrix, split, summary)
    write_json(os.path.join(EVAL_PATH, "metrics.json"), summary)
    tiny_png(os.path.join(EVAL_PATH, "plots", "images", "importance.png"))


if __name__ == "__main__":
    main()
