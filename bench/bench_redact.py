"""Redaction cost per MB on ordinary and pathological text, beside str.replace.

    python bench/bench_redact.py [--mb N]

Each line: the input's shape, seconds per MB for redact.scrub_text and for
redact.looks_secret (a name that long), and for str.replace over the same text
(the floor: one pass in C).  Linear code keeps s/MB flat as N grows; the old
backtracking regex (``[scheme]*://[user]*:[pw]+@``) is timed on 1/256 of the text,
where it already takes seconds.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gitruns import redact  # noqa: E402

_OLD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")


def shapes(size: int) -> dict[str, str]:
    return {
        "prose with URLs": ("see https://ada:pw@host.example/x and http://example.org/y; " * size)[:size],
        "'a://' repeated": ("a://" * size)[:size],
        "'a:' repeated": ("a:" * size)[:size],
        "scheme, no '@'": "x://" + "u" * (size // 2) + ":" + "p" * (size // 2),
        "letters then '://'": "a" * size + "://",
        "camelCase run": ("aB" * size)[:size],
        "URL, many params": "x://h/?" + "&a=b" * (size // 4),
    }


def per_mb(fn: Callable[[], object], size: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) / (size / 1e6)


def rows(mb: float = 1.0) -> list[str]:
    """A markdown table: seconds per MB of each input shape."""
    size = int(mb * 1e6)
    small = max(size // 256, 1)
    out = [f"{mb:g} MB per input; the old regex on 1/256 of it.", "",
           "| input | `scrub_text` | `looks_secret` | `str.replace` (floor) | old regex |",
           "|---|---|---|---|---|"]
    for name, text in shapes(size).items():
        scrub = per_mb(lambda t=text: redact.scrub_text(t), size)
        looks = per_mb(lambda t=text: redact.looks_secret(t), size)
        floor = per_mb(lambda t=text: t.replace("@", "#"), size)
        part = text[:small]
        old = per_mb(lambda p=part: _OLD.sub("", p), small)
        out.append(f"| {name} | {scrub:.3f} s/MB | {looks:.3f} s/MB | {floor:.4f} s/MB | {old:.3f} s/MB |")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=4.0, help="input size in MB (default 4)")
    args = parser.parse_args()
    print(f"redaction ({os.cpu_count()} cores, Python {sys.version.split()[0]})")
    print("\n".join(rows(args.mb)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
