"""redact.py: which names are secret, and what is kept of their values."""
from __future__ import annotations

import time

import pytest

from gitruns import redact
from gitruns.redact import REDACTED


@pytest.mark.parametrize("name, segments", [
    ("AWS_SECRET_ACCESS_KEY", ["aws", "secret", "access", "key"]),
    ("apiKey", ["api", "key"]),
    ("APIKey", ["api", "key"]),
    ("max_tokens", ["max", "tokens"]),
    ("layer2size", ["layer", "2", "size"]),
    ("db.password", ["db", "password"]),
    ("--api-key", ["api", "key"]),
])
def test_segments(name: str, segments: list[str]) -> None:
    assert redact.segments(name) == segments


@pytest.mark.parametrize("name", [
    "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "GITHUB_TOKEN", "hf_token", "HF_TOKEN", "--token",
    "api_key", "apiKey", "WANDB_API_KEY", "APIKEY", "PGPASSWORD", "db.password", "clientSecret",
    "private_key_pem", "DATABASE_DSN", "session_id", "cookie", "Authorization", "sshkey", "token_value",
])
def test_secret_names(name: str) -> None:
    assert redact.looks_secret(name)


@pytest.mark.parametrize("name", [
    "tokenizer", "max_tokens", "pad_token", "eos_token_id", "token_type", "author", "num_keys",
    "sort_key", "primary_key", "keyframes", "monkey", "ssh_key_path", "PWD", "lr", "batch_size",
    "passes", "num_sessions",
])
def test_hyperparameter_names_are_kept(name: str) -> None:
    assert not redact.looks_secret(name)


def test_mapping_redacts_whole_values_and_keeps_flags() -> None:
    config = {
        "lr": 0.1,
        "db": {"password": "hunter2", "host": "db.example.com",
               "url": "postgres://ada:hunter2@db.example.com:5432/x"},
        "api_key": {"nested": ["a", "b"]},
        "use_auth_token": True,
        "hf_token": None,
        "tokenizer": "bpe",
        "list": [{"secret": 1}, "https://u:p@h/x"],
    }
    assert redact.mapping(config) == {
        "lr": 0.1,
        "db": {"password": REDACTED, "host": "db.example.com",
               "url": f"postgres://ada:{REDACTED}@db.example.com:5432/x"},
        "api_key": REDACTED,
        "use_auth_token": True,
        "hf_token": None,
        "tokenizer": "bpe",
        "list": [{"secret": REDACTED}, f"https://u:{REDACTED}@h/x"],
    }
    assert config["db"]["password"] == "hunter2"  # a copy: the input is untouched


@pytest.mark.parametrize("text, expected", [
    ("no url here: a=b", "no url here: a=b"),
    ("https://host/path?x=1", "https://host/path?x=1"),
    ("https://user@host/x", "https://user@host/x"),
    ("https://user:pw@host/x", f"https://user:{REDACTED}@host/x"),
    ("https://user:p@ss@host/x", f"https://user:{REDACTED}@host/x"),
    ("see https://a:1@h and ftp://b:2@k", f"see https://a:{REDACTED}@h and ftp://b:{REDACTED}@k"),
    ("https://h/x?access_token=abc&page=2", f"https://h/x?access_token={REDACTED}&page=2"),
    ("https://h/x?X-Amz-Signature=abc#top", f"https://h/x?X-Amz-Signature={REDACTED}#top"),
    ("https://acct.blob/c?sv=1&sig=abc", f"https://acct.blob/c?sv=1&sig={REDACTED}"),
])
def test_scrub_text(text: str, expected: str) -> None:
    assert redact.scrub_text(text) == expected


def test_env_value() -> None:
    assert redact.env_value("GITHUB_TOKEN", "ghp_x") == REDACTED
    assert redact.env_value("PIP_INDEX_URL", "https://u:pw@pypi/simple") == f"https://u:{REDACTED}@pypi/simple"
    assert redact.env_value("CUDA_VISIBLE_DEVICES", "0,1") == "0,1"


@pytest.mark.parametrize("args, expected", [
    (["python", "train.py", "--token", "abc", "--lr", "0.1"],
     ["python", "train.py", "--token", REDACTED, "--lr", "0.1"]),
    (["--api-key=abc", "db.password=x", "lr=0.1"], [f"--api-key={REDACTED}", f"db.password={REDACTED}", "lr=0.1"]),
    (["--use-auth-token", "--lr", "0.1"], ["--use-auth-token", "--lr", "0.1"]),
    (["curl", "-H", "Authorization: Bearer abc", "-H", "Accept: json"],
     ["curl", "-H", f"Authorization: {REDACTED}", "-H", "Accept: json"]),
    (["git", "clone", "https://u:pw@host/r"], ["git", "clone", f"https://u:{REDACTED}@host/r"]),
    (["--token"], ["--token"]),
])
def test_argv(args: list[str], expected: list[str]) -> None:
    assert redact.argv(args) == expected


def test_linear_time_on_huge_values() -> None:
    started = time.perf_counter()
    redact.scrub_text("https://" + "a:" * 200_000 + "@")
    redact.scrub_text("://" + "x" * 300_000)
    redact.looks_secret("key_" * 100_000)
    redact.mapping({"v": "?a=" * 100_000 + "://"})
    assert time.perf_counter() - started < 2
