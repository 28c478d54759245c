"""Two small truths of `git run exec`: -p values are YAML 1.2 scalars, and a
misspelt option is a usage error rather than a run of a command named after it."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from conftest import gitrun, latest, record, run_ids, state

# The command prints what it was handed in $GITRUNS_CONFIG_FILE, read as most programs
# would (PyYAML), with each value's Python type.
SHOW_CONFIG = (
    "import json, os, yaml\n"
    "cfg = yaml.safe_load(open(os.environ['GITRUNS_CONFIG_FILE']))\n"
    "print(json.dumps({k: [type(v).__name__, repr(v)] for k, v in cfg.items()}))\n"
)


def test_p_values_are_typed_as_yaml_1_2_core_scalars(repo: Path) -> None:
    (repo / "show.py").write_text(SHOW_CONFIG)
    overrides = {
        "lr": "1e-3", "n": "010", "flag": "no", "yes_": "yes", "on_": "on", "octal": "0o10", "hex": "0x1F",
        "t": "true", "f": "False", "nothing": "null", "tilde": "~", "inf": "-.inf", "nan": ".nan",
        "quoted": "'1e-3'", "dquoted": '"010"', "date": "2024-01-02", "half": ".5", "neg": "-2.5E+2",
        "big": "1_000", "list": "[1e-3, no, 010]", "mapping": "{a: 1e-3, b: off}", "text": "a: b",
        "empty": "", "plus": "+12",
    }
    args = ["exec"]
    for key, raw in overrides.items():
        args += ["-p", f"{key}={raw}"]
    proc = gitrun(repo, *args, "--", sys.executable, "show.py", env={"GITRUNS_DIRTY": "allow"})
    assert proc.returncode == 0, proc.stderr
    handed = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {
        "lr": ["float", "0.001"], "n": ["int", "10"], "flag": ["str", "'no'"], "yes_": ["str", "'yes'"],
        "on_": ["str", "'on'"], "octal": ["int", "8"], "hex": ["int", "31"], "t": ["bool", "True"],
        "f": ["bool", "False"], "nothing": ["NoneType", "None"], "tilde": ["NoneType", "None"],
        "inf": ["float", "-inf"], "nan": ["float", "nan"], "quoted": ["str", "'1e-3'"],
        "dquoted": ["str", "'010'"], "date": ["str", "'2024-01-02'"], "half": ["float", "0.5"],
        "neg": ["float", "-250.0"], "big": ["str", "'1_000'"], "list": ["list", "[0.001, 'no', 10]"],
        "mapping": ["dict", "{'a': 0.001, 'b': 'off'}"], "text": ["str", "'a: b'"], "empty": ["str", "''"],
        "plus": ["int", "12"],
    }
    assert handed == expected
    cfg = yaml.safe_load(record(repo, latest(repo), "config.yaml"))
    assert cfg["lr"] == 0.001 and isinstance(cfg["lr"], float)
    assert cfg["n"] == 10 and cfg["flag"] == "no" and cfg["octal"] == 8 and cfg["quoted"] == "1e-3"
    assert cfg["date"] == "2024-01-02" and cfg["list"] == [0.001, "no", 10]


def test_config_files_keep_pyyaml_typing(repo: Path) -> None:
    """Files are read as the user's own PyYAML program reads them (documented)."""
    (repo / "show.py").write_text(SHOW_CONFIG)
    (repo / "p.yaml").write_text("lr: 1.0e-3\nflag: no\nn: 12\nname: run\n")
    proc = gitrun(repo, "exec", "-c", "p.yaml", "--", sys.executable, "show.py", env={"GITRUNS_DIRTY": "allow"})
    assert proc.returncode == 0, proc.stderr
    handed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert handed == {"lr": ["float", "0.001"], "flag": ["bool", "False"], "n": ["int", "12"],
                      "name": ["str", "'run'"]}


def test_a_misspelt_exec_option_is_a_usage_error(repo: Path) -> None:
    before = state(repo)
    proc = gitrun(repo, "exec", "--ouput", "x", "--", "true")
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "--ouput" in lines[0] and "--output" in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    assert run_ids(repo) == []
    assert state(repo) == before
    # A misspelt short option too.
    proc = gitrun(repo, "exec", "-x", "--", "true")
    assert proc.returncode == 2 and "-x" in proc.stderr and run_ids(repo) == []


def test_options_after_the_command_pass_through(repo: Path) -> None:
    echo = "import json, sys; print(json.dumps(sys.argv[1:]))"
    proc = gitrun(repo, "exec", "--", sys.executable, "-c", echo, "--ouput", "x")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == ["--ouput", "x"]
    proc = gitrun(repo, "exec", "-n", "named", sys.executable, "-c", echo, "--flag", "-o", "y", "--", "z")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == ["--flag", "-o", "y", "--", "z"]
    assert record(repo)["name"] == "named"
    assert len(run_ids(repo)) == 2
