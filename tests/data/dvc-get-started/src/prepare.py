"""A tiny stand-in for DVC get-started's src/prepare.py: splits the posts of
data/data.xml into data/prepared/train.tsv and test.tsv (params: prepare.seed,
prepare.split).  Standard library only."""
import os
import random
import re
import sys
import xml.etree.ElementTree


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
    params = load_params("prepare")
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python prepare.py data-file\n")
        sys.exit(1)
    random.seed(params["seed"])
    os.makedirs(os.path.join("data", "prepared"), exist_ok=True)
    with open(sys.argv[1], encoding="utf-8") as fh:
        lines = fh.readlines()
    with open(os.path.join("data", "prepared", "train.tsv"), "w", encoding="utf-8") as train, \
            open(os.path.join("data", "prepared", "test.tsv"), "w", encoding="utf-8") as test:
        for num, line in enumerate(lines, 1):
            try:
                attr = xml.etree.ElementTree.fromstring(line).attrib
            except xml.etree.ElementTree.ParseError as exc:
                sys.stderr.write(f"Skipping the broken line {num}: {exc}\n")
                continue
            out = train if random.random() > params["split"] else test
            label = 1 if "<r>" in attr.get("Tags", "") else 0
            text = re.sub(r"\s+", " ", attr.get("Title", "") + " " + attr.get("Body", "")).strip()
            out.write(f"{attr.get('Id', '')}\t{label}\t{text}\n")


if __name__ == "__main__":
    main()
