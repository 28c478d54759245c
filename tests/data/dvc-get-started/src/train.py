"""A tiny stand-in for DVC get-started's src/train.py: a per-feature weight
"model" from data/features/train.pkl into model.pkl (params: train.seed,
train.n_est, train.min_split).  Standard library only."""
import os
import pickle
import random
import sys


def load_params(section):
    """params.yaml's section; PyYAML when present, else its two-level shape read by hand."""
    try:
        import yaml
    except ImportError:
        params, current = {}, None
        with open("params.yaml", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                key, _, value = line.strip().partition(":")
                if not line.startswith(" "):
                    current = params.setdefault(key, {})
                else:
                    value = value.strip()
                    try:
                        current[key] = int(value)
                    except ValueError:
                        current[key] = float(value)
        return params[section]
    with open("params.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)[section]


def main():
    params = load_params("train")
    if len(sys.argv) != 3:
        sys.stderr.write("usage: python train.py features model\n")
        sys.exit(1)
    with open(os.path.join(sys.argv[1], "train.pkl"), "rb") as fh:
        matrix, names = pickle.load(fh)
    random.seed(params["seed"])
    weights = []
    for j in range(len(names)):
        pos = sum(row[2][j] for row in matrix if row[1] == 1)
        neg = sum(row[2][j] for row in matrix if row[1] == 0)
        weights.append((pos - neg) / (pos + neg + params["min_split"]) + random.random() / (1000 * params["n_est"]))
    with open(sys.argv[2], "wb") as fh:
        pickle.dump({"names": names, "weights": weights, "params": params}, fh)


if __name__ == "__main__":
    main()
