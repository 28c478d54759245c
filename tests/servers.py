"""Real servers on loopback for the sharing tests: git daemon, sshd (sftp), and an
S3-compatible server (moto).  Each is started by a fixture and stopped after the test.

A missing server program skips its tests, unless GITRUNS_TEST_REQUIRE names it
(``.ci/run`` sets GITRUNS_TEST_REQUIRE=sshd,moto), which turns the skip into a failure.
"""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from realparts import missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port}")


def need(program: str, path: str | None) -> str:
    if path and os.path.exists(path):
        return path
    missing(program, "is not installed")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A git:// server (git daemon) exporting tmp/daemon with pushes enabled: (base URL, base dir)."""
    base = tmp_path / "daemon"
    base.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={port}", f"--base-path={base}",
         "--export-all", "--enable=receive-pack", "--informative-errors", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, "git daemon")
        yield f"git://127.0.0.1:{port}", base
    finally:
        _stop(proc)


@dataclass
class Sshd:
    port: int
    user: str


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    """An OpenSSH server on 127.0.0.1 accepting this user's freshly made key; its host
    key is put in ~/.ssh/known_hosts as a user who connected once would have it."""
    exe = need("sshd", shutil.which("sshd") or "/usr/sbin/sshd")
    keygen = shutil.which("ssh-keygen")
    assert keygen, "ssh-keygen is needed with sshd"
    work = tmp_path / "sshd"
    work.mkdir()
    home_ssh = Path(os.environ["HOME"]) / ".ssh"
    home_ssh.mkdir(mode=0o700, exist_ok=True)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(work / "host_key")], check=True)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(home_ssh / "id_ed25519")], check=True)
    shutil.copy(home_ssh / "id_ed25519.pub", work / "authorized_keys")
    port = free_port()
    host_pub = (work / "host_key.pub").read_text().split()
    (home_ssh / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    config = work / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work / 'host_key'}\n"
        f"AuthorizedKeysFile {work / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\n"
        f"UsePAM no\nPidFile {work / 'sshd.pid'}\nSubsystem sftp internal-sftp\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen([exe, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc, "sshd")
        yield Sshd(port, getpass.getuser())
    finally:
        _stop(proc)


@dataclass
class S3:
    endpoint: str
    bucket: str


@pytest.fixture
def s3_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """moto's S3-compatible server on 127.0.0.1, with one bucket."""
    exe = need("moto", shutil.which("moto_server", path=os.path.dirname(sys.executable)))
    port = free_port()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "gitruns-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "gitruns-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, "moto_server")
        endpoint = f"http://127.0.0.1:{port}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="team-artifacts")
        yield S3(endpoint, "team-artifacts")
    finally:
        _stop(proc)
