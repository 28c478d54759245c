"""Redaction: secrets never reach a run's git objects; hyperparameters that merely
look like secret words (max_tokens, tokenizer, author, num_keys) are recorded as
they are.  Everything is checked with plain git on the run's ref."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import git, gitrun, latest, make_repo, record, run_ids

SECRET = "S3cr3tV4lue-xyz"


def _run_objects_text(repo: Path, rid: str) -> str:
    """Every byte git holds for the run's own history: commit messages and every
    blob under .gitruns/ in every commit of refs/runs/<id> that is not on a branch."""
    commits = git(repo, "rev-list", f"refs/runs/{rid}", "--not", "--branches").split()
    assert commits, "the run has no commits of its own"
    parts: list[str] = []
    for commit in commits:
        parts.append(git(repo, "cat-file", "commit", commit))
        for line in git(repo, "ls-tree", "-r", commit, ".gitruns").splitlines():
            meta, _, _path = line.partition("\t")
            parts.append(git(repo, "cat-file", "blob", meta.split()[2]))
    return "\n".join(parts)


def _config(repo: Path, rid: str | None = None) -> dict:
    # libyaml when present: the pure-Python parser takes a while over megabytes.
    return yaml.load(record(repo, rid, "config.yaml"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def test_names_are_matched_by_whole_segments(repo: Path) -> None:
    harmless = {
        "tokenizer": "bpe", "max_tokens": 512, "author": "ada", "num_keys": 4, "keyframes": 12,
        "keyboard": "us", "monkey": "patch", "passthrough": "yes-please", "authority": "ca",
        "maxTokens": 77, "sort_key": "loss", "key": "metric", "tokens_per_batch": 4096,
    }
    secret_names = [
        "api_key", "apiKey", "APIKey", "hf_token", "HF_TOKEN", "db.password", "AWS_SECRET_ACCESS_KEY",
        "GITHUB_TOKEN", "private_key", "client_secret", "passwd", "oauth_token", "auth", "authorization",
        "openai-api-key", "session_id", "credentials", "dsn", "PGPASSWORD", "ssh_key", "cookie",
    ]
    args = ["exec"]
    for name, value in harmless.items():
        args += ["-p", f"{name}={value}"]
    for name in secret_names:
        args += ["-p", f"{name}={SECRET}"]
    proc = gitrun(repo, *args, "--", sys.executable, "-c", "pass",
                  "--max-tokens", "512", "--use-auth-token", "--tokenizer=bpe", f"--api-key={SECRET}",
                  "--password", SECRET, f"hydra.db.password={SECRET}", "--author", "ada",
                  "-H", f"Authorization: Bearer {SECRET}",
                  env={"HF_TOKEN": SECRET, "WANDB_API_KEY": SECRET, "TOKENIZERS_PARALLELISM": "false",
                       "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    rid = latest(repo)
    cfg = _config(repo, rid)
    for name, value in harmless.items():
        assert cfg[name] == value, name
    assert cfg["db"] == {"password": "<redacted>"}
    for name in secret_names:
        if name != "db.password":
            assert cfg[name] == "<redacted>", name
    rec = record(repo, rid)
    assert rec["command"][3:] == ["--max-tokens", "512", "--use-auth-token", "--tokenizer=bpe",
                                  "--api-key=<redacted>", "--password", "<redacted>", "hydra.db.password=<redacted>",
                                  "--author", "ada", "-H", "Authorization: <redacted>"]
    env = record(repo, rid, "env.json")["env"]
    assert env["HF_TOKEN"] == "<redacted>"
    assert env["WANDB_API_KEY"] == "<redacted>"
    assert env["TOKENIZERS_PARALLELISM"] == "false"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert SECRET not in _run_objects_text(repo, rid)


def test_diff_sees_a_max_tokens_change(repo: Path) -> None:
    for value in ("512", "1024"):
        proc = gitrun(repo, "exec", "-p", f"max_tokens={value}", "-p", "tokenizer=bpe", "--", "true")
        assert proc.returncode == 0, proc.stderr
    a, b = run_ids(repo)[0], run_ids(repo)[1]
    if _config(repo, a)["max_tokens"] == 1024:
        a, b = b, a
    proc = gitrun(repo, "diff", a, b)
    assert proc.returncode == 0, proc.stderr
    assert "max_tokens" in proc.stdout and "512" in proc.stdout and "1024" in proc.stdout, proc.stdout
    assert "config: same" not in proc.stdout
    data = json.loads(gitrun(repo, "diff", "--json", a, b).stdout)
    assert "max_tokens" in json.dumps(data["config"])


def test_lists_and_mappings_under_secret_keys_are_redacted_whole(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {
        "params.yaml": (
            f"secrets:\n  a: {SECRET}\n  b: [{SECRET}]\n"
            f"api_keys: [{SECRET}, {SECRET}2]\n"
            f"credentials:\n  user: ada\n  password_hash: {SECRET}\n"
            "tokenizer:\n  name: bpe\n  max_tokens: 2048\n"
            f"servers:\n  - url: https://ada:{SECRET}@db.example/x\n    token: {SECRET}\n  - url: https://db2.example/y\n"
            "use_auth_token: true\n"
        ),
        "train.py": (
            "import gitruns\n"
            f"gitruns.log_params({{'hf_token': '{SECRET}', 'max_new_tokens': 7,"
            f" 'oauth': {{'client_id': 'x', 'refresh': '{SECRET}'}}, 'tokenizer_name': 'bpe'}})\n"
        ),
    })
    proc = gitrun(repo, "exec", "-c", "params.yaml", "--", sys.executable, "train.py")
    assert proc.returncode == 0, proc.stderr
    rid = latest(repo)
    cfg = _config(repo, rid)
    assert cfg["secrets"] == "<redacted>"
    assert cfg["api_keys"] == "<redacted>"
    assert cfg["credentials"] == "<redacted>"
    assert cfg["tokenizer"] == {"name": "bpe", "max_tokens": 2048}
    assert cfg["servers"] == [{"url": "https://ada:<redacted>@db.example/x", "token": "<redacted>"},
                              {"url": "https://db2.example/y"}]
    assert cfg["use_auth_token"] is True  # a flag carries no secret
    assert cfg["max_new_tokens"] == 7 and cfg["tokenizer_name"] == "bpe"
    assert cfg["hf_token"] == "<redacted>" and cfg["oauth"] == "<redacted>"
    params = record(repo, rid)["params"]
    assert params["hf_token"] == "<redacted>" and params["oauth"] == "<redacted>"
    assert params["max_new_tokens"] == 7
    assert SECRET not in _run_objects_text(repo, rid)


def test_secrets_never_reach_any_git_object_of_the_run(repo: Path) -> None:
    proc = gitrun(repo, "exec", "-p", f"api_key={SECRET}", "-p", "max_tokens=333", "-p", "tokenizer=sentencepiece",
                  "-t", f"hf_token={SECRET}", "-t", "team=vision",
                  "--", sys.executable, "-c", "import os, sys; print(len(sys.argv), os.environ['HF_TOKEN'][:2])",
                  "--token", SECRET, "--max_tokens", "444",
                  env={"HF_TOKEN": SECRET})
    assert proc.returncode == 0, proc.stderr
    rid = latest(repo)
    everything = _run_objects_text(repo, rid)
    assert SECRET not in everything
    assert "333" in everything and "444" in everything and "sentencepiece" in everything
    assert record(repo, rid)["tags"] == {"hf_token": "<redacted>", "team": "vision"}
    # The same through git log -p, as a reviewer would look.
    log = git(repo, "log", "-p", f"refs/runs/{rid}", "--not", "--branches")
    assert SECRET not in log and "sentencepiece" in log


def test_redaction_takes_linear_time_on_pathological_values(tmp_path: Path) -> None:
    n = 1 << 20
    values = {
        "schemes": "a://" * (n // 4),
        "colons": "a:" * (n // 2),
        "no_at": "x://" + "u" * (n // 2) + ":" + "p" * (n // 2),
        "long_scheme": "a" * n + "://",
        "camel": "aB" * (n // 2),
        "query": "x://h/?" + "&a=b" * (n // 4),
    }
    long_key = "aB" * (n // 4) + "Token"
    repo = make_repo(tmp_path / "r", {"big.json": json.dumps({**values, long_key: SECRET}),
                                             "f.txt": "x\n"})
    # A generous deadline: today this takes minutes (quadratic backtracking), it must take seconds.
    proc = gitrun(repo, "exec", "-c", "big.json", "--", "true", timeout=60)
    assert proc.returncode == 0, proc.stderr
    cfg = _config(repo)
    for name, value in values.items():
        assert cfg[name] == value, name
    assert cfg[long_key] == "<redacted>"


def test_urls_with_credentials_are_scrubbed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"f.txt": "x\n"})
    proc = gitrun(repo, "exec",
                  "-p", f"db=postgres://ada:{SECRET}@db.example:5432/x",
                  "-p", f"mirror=https://ada:p@ss{SECRET}@host.example/simple",
                  "-p", f"redis=redis://:{SECRET}@cache/0",
                  "-p", "plain=https://ada@host.example/x?q=a:b@c",
                  "-p", f"signed=https://b.s3.example/x.tar?X-Amz-Expires=3600&X-Amz-Signature={SECRET}&v=2",
                  "-p", f"sas=https://a.blob.example/c?sv=2022&sig={SECRET}#frag",
                  "--", "true", f"--index-url=https://u:{SECRET}@pypi.example/simple",
                  env={"PIP_INDEX_URL": f"https://u:{SECRET}@pypi.example/simple"})
    assert proc.returncode == 0, proc.stderr
    cfg = _config(repo)
    assert cfg["db"] == "postgres://ada:<redacted>@db.example:5432/x"
    assert cfg["mirror"] == "https://ada:<redacted>@host.example/simple"
    assert cfg["redis"] == "redis://:<redacted>@cache/0"
    assert cfg["plain"] == "https://ada@host.example/x?q=a:b@c"
    assert cfg["signed"] == "https://b.s3.example/x.tar?X-Amz-Expires=3600&X-Amz-Signature=<redacted>&v=2"
    assert cfg["sas"] == "https://a.blob.example/c?sv=2022&sig=<redacted>#frag"
    assert record(repo)["command"][1] == "--index-url=https://u:<redacted>@pypi.example/simple"
    assert SECRET not in _run_objects_text(repo, latest(repo))


def test_bench_redact_runs(tmp_path: Path) -> None:
    bench = Path(__file__).resolve().parent.parent / "bench" / "bench_redact.py"
    proc = subprocess.run([sys.executable, str(bench), "--mb", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "s/MB" in proc.stdout
