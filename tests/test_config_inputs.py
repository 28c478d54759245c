from __future__ import annotations

import json
from pathlib import Path

import xxhash
import yaml
from conftest import git, gitrun, latest, record, run_ids

READ_CONFIG = "import os; print(open(os.environ['GITRUNS_CONFIG_FILE']).read(), end='')"


def test_config_files_merge_and_overrides_are_typed(repo: Path) -> None:
    (repo / "base.yaml").write_text("train:\n  lr: 0.1\n  epochs: 3\nmodel: resnet\n")
    (repo / "exp.json").write_text('{"train": {"epochs": 10}, "seed": 1}')
    proc = gitrun(repo, "exec", "-c", "base.yaml", "-c", "exp.json", "-p", "train.lr=0.01",
                  "-p", "tag='007'", "-p", "debug=true", "-p", "opt.beta=0.9", "--", "python", "-c", READ_CONFIG)
    assert proc.returncode == 0, proc.stderr
    handed = yaml.safe_load(proc.stdout)
    expected = {"train": {"lr": 0.01, "epochs": 10}, "model": "resnet", "seed": 1, "tag": "007",
                "debug": True, "opt": {"beta": 0.9}}
    assert handed == expected
    assert yaml.safe_load(record(repo, name="config.yaml")) == expected


def test_malformed_config_fails_before_the_command_with_file_and_line(repo: Path) -> None:
    (repo / "bad.yaml").write_text("a: 1\nb: [unclosed\nc: 3\n")
    proc = gitrun(repo, "exec", "-c", "bad.yaml", "--", "python", "-c", "print('ran')")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "bad.yaml" in proc.stderr and "line" in proc.stderr
    assert "Traceback" not in proc.stderr
    (repo / "bad.json").write_text('{\n  "a": 1,\n  "b": oops\n}\n')
    proc = gitrun(repo, "exec", "-c", "bad.json", "--", "python", "-c", "print('ran')")
    assert proc.returncode == 2 and "bad.json, line 3" in proc.stderr
    proc = gitrun(repo, "exec", "-c", "missing.yaml", "--", "true")
    assert proc.returncode == 2 and "missing.yaml" in proc.stderr
    proc = gitrun(repo, "exec", "-p", "novalue", "--", "true")
    assert proc.returncode == 2 and "expected key=value" in proc.stderr
    (repo / "list.yaml").write_text("- 1\n- 2\n")
    proc = gitrun(repo, "exec", "-c", "list.yaml", "--", "true")
    assert proc.returncode == 2 and "mapping" in proc.stderr
    assert run_ids(repo) == []


def test_inputs_are_hashed_and_the_stat_cache_avoids_rehashing(repo: Path) -> None:
    data = repo / "data"
    (data / "nested").mkdir(parents=True)
    (data / "a.csv").write_bytes(b"x,y\n1,2\n" * 5000)
    (data / "nested" / "b.csv").write_bytes(b"z\n" * 100)
    single = repo / "labels.txt"
    single.write_bytes(b"cat\ndog\n")
    import os
    import time
    old = time.time() - 60  # older than the racy window, as a real data set is
    for p in (data / "a.csv", data / "nested" / "b.csv", single):
        os.utime(p, (old, old))
    proc = gitrun(repo, "exec", "-i", "data", "-i", "labels.txt", "--", "python", "-c", "pass",
                  env={"GITRUNS_TRACE": "1", "GITRUNS_DIRTY": "allow"})
    assert proc.returncode == 0, proc.stderr
    assert "input data: 2 files, 40200 bytes, 40200 bytes read, 0 stat-cache hits" in proc.stderr
    rec = record(repo)
    by_path = {i["path"]: i for i in rec["inputs"]}
    assert by_path["labels.txt"] == {"path": "labels.txt", "kind": "file", "size": 8, "files": 1, "tracked": False,
                                     "digest": "xxh3_128:" + xxhash.xxh3_128_hexdigest(b"cat\ndog\n"),
                                     "kept": True}  # in the artifact cache (tests/test_kept_inputs.py)
    assert by_path["data"]["kind"] == "dir" and by_path["data"]["files"] == 2
    first_digest = by_path["data"]["digest"]
    proc = gitrun(repo, "exec", "-i", "data", "--", "python", "-c", "pass",
                  env={"GITRUNS_TRACE": "1", "GITRUNS_DIRTY": "allow"})
    assert "input data: 2 files, 40200 bytes, 0 bytes read, 2 stat-cache hits" in proc.stderr
    assert record(repo)["inputs"][0]["digest"] == first_digest
    # A changed file is read again and changes the directory's digest.
    (data / "nested" / "b.csv").write_bytes(b"changed\n")
    proc = gitrun(repo, "exec", "-i", "data", "--", "python", "-c", "pass",
                  env={"GITRUNS_TRACE": "1", "GITRUNS_DIRTY": "allow"})
    assert "1 stat-cache hits" in proc.stderr
    assert record(repo)["inputs"][0]["digest"] != first_digest


def test_input_outside_repo_and_missing_input(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "shared-data.bin"
    outside.write_bytes(b"\0" * 1000)
    proc = gitrun(repo, "exec", "-i", str(outside), "--", "python", "-c", "pass")
    assert proc.returncode == 0
    assert record(repo)["inputs"][0]["path"] == str(outside)
    before = run_ids(repo)
    proc = gitrun(repo, "exec", "-i", "nope.csv", "--", "python", "-c", "pass")
    assert proc.returncode == 2 and proc.stderr == "git run: error: input nope.csv does not exist\n"
    assert run_ids(repo) == before


def test_tracked_input_is_marked_tracked(repo: Path) -> None:
    proc = gitrun(repo, "exec", "-i", "README", "--", "python", "-c", "pass")
    assert proc.returncode == 0
    assert record(repo)["inputs"][0]["tracked"] is True


def test_metrics_params_and_artifacts_from_code(repo: Path) -> None:
    code = (
        "import gitruns, json\n"
        "for step, loss in enumerate([0.9, 0.5, 0.2]):\n"
        "    gitruns.log_metric('loss', loss, step=step)\n"
        "gitruns.log_metric('acc', 0.75)\n"
        "gitruns.log_params({'lr': 0.05, 'opt': {'name': 'adam'}}, batch=32)\n"
        "open('weights.bin', 'wb').write(b'w' * 64)\n"
        "gitruns.log_artifact('weights.bin')\n"
        "json.dump({'eval': {'f1': 0.6, 'auc': 0.7}, 'note': 'text is skipped'}, open('m.json', 'w'))\n"
    )
    proc = gitrun(repo, "exec", "-m", "m.json", "-p", "lr=0.1", "--", "python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    rec = record(repo)
    assert rec["metrics"] == {"acc": 0.75, "eval.auc": 0.7, "eval.f1": 0.6, "loss": 0.2}
    assert rec["params"] == {"lr": 0.05, "opt": {"name": "adam"}, "batch": 32}
    cfg = yaml.safe_load(record(repo, name="config.yaml"))
    assert cfg == {"lr": 0.05, "opt": {"name": "adam"}, "batch": 32}
    points = [json.loads(line) for line in record(repo, name="metrics.jsonl").splitlines()]
    assert [p["value"] for p in points if p["name"] == "loss"] == [0.9, 0.5, 0.2]
    assert [p["step"] for p in points if p["name"] == "loss"] == [0, 1, 2]
    assert all(isinstance(p["time"], float) for p in points)
    art = rec["artifacts"][0]
    assert art["path"] == "weights.bin" and art["source"] == "logged" and art["size"] == 64


def test_missing_metrics_file_is_recorded_not_a_crash(repo: Path) -> None:
    proc = gitrun(repo, "exec", "-m", "metrics.json", "--", "python", "-c", "pass")
    assert proc.returncode == 0
    rec = record(repo)
    assert rec["status"] == "succeeded"
    assert "metrics file" in rec["error"]["message"] and "not written" in rec["error"]["message"]


def test_api_outside_a_run_warns_and_does_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import gitruns; gitruns.log_metric('x', 1); print('ok')"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "ok\n"
    assert "not inside 'git run exec'" in proc.stderr


def test_start_run_from_code_records_a_run(repo: Path) -> None:
    import subprocess
    import sys

    code = (
        "import gitruns\n"
        "with gitruns.start_run(name='notebook', config={'k': 1}):\n"
        "    gitruns.log_metric('acc', 0.5)\n"
        "try:\n"
        "    with gitruns.start_run(name='broken'):\n"
        "        raise ValueError('bad data')\n"
        "except ValueError:\n"
        "    pass\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    first, second = run_ids(repo)
    ok, bad = record(repo, first), record(repo, second)
    assert ok["name"] == "notebook" and ok["status"] == "succeeded" and ok["metrics"] == {"acc": 0.5}
    assert bad["status"] == "failed" and bad["error"]["message"] == "ValueError: bad data"
    assert git(repo, "rev-list", "--count", f"refs/runs/{first}").strip() == "3"


def test_secrets_are_redacted_everywhere_in_the_record(repo: Path) -> None:
    secret = "s3cr3t-value-123"
    proc = gitrun(
        repo, "exec", "-p", f"db.password={secret}", "-p", f"api_key={secret}", "-p", "lr=0.1", "--",
        "python", "-c", "import sys; print(len(sys.argv))", f"--token={secret}", "--api-key", secret,
        env={"MY_SERVICE_TOKEN": secret, "HF_TOKEN": secret, "CUDA_VISIBLE_DEVICES": "0",
             "PIP_INDEX_URL": f"https://user:{secret}@pypi.example/simple", "AWS_SECRET_ACCESS_KEY": secret},
    )
    assert proc.returncode == 0, proc.stderr
    rid = latest(repo)
    dump = git(repo, "grep", "-c", secret, f"refs/runs/{rid}", check=False)
    assert dump == ""
    log = git(repo, "log", "-p", f"refs/runs/{rid}")
    assert secret not in log
    env = record(repo, rid, "env.json")
    assert env["env"]["HF_TOKEN"] == "<redacted>"
    assert env["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    rec = record(repo, rid)
    assert rec["command"][-3:] == ["--token=<redacted>", "--api-key", "<redacted>"]
    cfg = yaml.safe_load(record(repo, rid, "config.yaml"))
    assert cfg == {"db": {"password": "<redacted>"}, "api_key": "<redacted>", "lr": 0.1}


def test_an_input_that_is_not_a_file_or_directory_is_bad_input(repo: Path) -> None:
    import os

    os.mkfifo(repo / "pipe")
    proc = gitrun(repo, "exec", "-i", "pipe", "--", "python", "-c", "print('ran')")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "neither a file nor a directory" in proc.stderr
    assert run_ids(repo) == []
