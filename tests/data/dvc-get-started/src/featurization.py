"""A tiny stand-in for DVC get-started's src/featurization.py: word counts of the
prepared posts into data/features/train.pkl and test.pkl (params:
featurize.max_features, featurize.ngrams).  Standard library only."""
import os
import pickle
import sys
from collections import Counter


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


def grams(text, n):
    words = text.lower().split()
    return [" ".join(words[i:i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1)]


def read(path):
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\n").split("\t", 2) for line in fh if line.strip()]


def main():
    params = load_params("featurize")
    if len(sys.argv) != 3:
        sys.stderr.write("usage: python featurization.py data-dir-path features-dir-path\n")
        sys.exit(1)
    in_path, out_path = sys.argv[1], sys.argv[2]
    train = read(os.path.join(in_path, "train.tsv"))
    test = read(os.path.join(in_path, "test.tsv"))
    counts = Counter(g for row in train for g in grams(row[2], params["ngrams"]))
    names = [name for name, _ in counts.most_common(params["max_features"])]
    os.makedirs(out_path, exist_ok=True)
    for rows, name in ((train, "train.pkl"), (test, "test.pkl")):
        matrix = [(int(r[0]), int(r[1]), [grams(r[2], params["ngrams"]).count(f) for f in names]) for r in rows]
        with open(os.path.join(out_path, name), "wb") as fh:
            pickle.dump((matrix, names), fh)


if __name__ == "__main__":
    main()
