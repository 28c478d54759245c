"""Text from records, made safe to print on a terminal.

A run record is untrusted once it comes from a remote (and a local one can be
crafted too): its names, commands, paths, tags, hosts, config keys and error
messages may hold escape sequences that recolour, retitle, clear or rewrite a
terminal, carriage returns that overwrite what was printed, and bidi overrides
that make text read differently from what it is.  Every human-readable output
of records goes through :func:`safe`; JSON output through :func:`json_text`.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator

# C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates/marks,
# line and paragraph separators, and lone surrogates (what a JSON "\ud800"
# decodes to, which no terminal encoding can write).
_UNSAFE = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
_SINGLE = re.compile(f"[{_UNSAFE}]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if code == 0x1b:
        return "^["  # caret notation, as `cat -v` and `less` show an escape
    if code <= 0xff:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _multi_pattern() -> re.Pattern[str]:
    # Multi-line values keep newlines and tabs, and a carriage return right
    # before a newline (a CRLF line end cannot overwrite anything): everything
    # of _UNSAFE but those.
    unsafe = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
    return re.compile(f"\r(?!\n)|[{unsafe}]")


_MULTI = _multi_pattern()


def safe(text: object, multiline: bool = False) -> str:
    """``text`` (anything; str() is taken) with every control character, escape
    sequence introducer and bidi control shown visibly (ESC as ``^[``, others as
    ``\\xNN``/``\\uNNNN``).  Single-line (the default) escapes newlines and tabs
    too, so a value can never forge a line of output or break a table."""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable():  # the usual case, checked in C: no control, format or separator character
        return s
    return (_MULTI if multiline else _SINGLE).sub(_escape, s)


def clip(text: str, most: int = 300) -> str:
    """At most ``most`` characters (a hostile record must not flood a warning)."""
    return text if len(text) <= most else text[: most - 1] + "…"


def warning_text(text: object, most: int = 300) -> str:
    """One line for a warning or error: safe and bounded."""
    return clip(safe(text), most)


# Inside JSON text these can only occur in strings, where "\\uXXXX" means the same.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def json_text(text: str) -> str:
    """JSON written with ``ensure_ascii=False`` (names stay readable UTF-8), with
    the characters that json.dumps leaves raw (DEL, C1, bidi controls, lone
    surrogates) escaped as ``\\uXXXX``; C0 controls are already escaped by json."""
    if text.isascii() and "\x7f" not in text:  # the usual case, checked in C
        return text
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_SHELL_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\e", "\\": "\\\\", "'": "\\'"}


def _shell_word(word: str) -> str:
    import shlex

    if word.isprintable():
        return shlex.quote(word)
    # A control or bidi character: bash's and zsh's $'...' quoting, so the word is
    # shown with visible escapes and still pastes back as the same argument.
    out = []
    for ch in word:
        if ch in _SHELL_ESCAPES:
            out.append(_SHELL_ESCAPES[ch])
        elif _SINGLE.match(ch):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code <= 0xff else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def command_text(argv: object) -> str:
    """A run's command (its argv) as one line to paste back into a shell: each word
    quoted as ``shlex.join`` does, and a word holding a newline, tab, escape or bidi
    control written in ``$'...'`` form, so the line is also safe on a terminal."""
    if isinstance(argv, str):  # a record may hold anything; show a lone string as one word
        argv = [argv]
    if not isinstance(argv, (list, tuple)):
        return safe(argv)
    return " ".join(_shell_word(str(word)) for word in argv)


@contextlib.contextmanager
def stdout_to_stderr(active: bool = True) -> Iterator[None]:
    """While active, file descriptor 1 is the process's stderr: what a command run
    meanwhile prints (a rerun's, a reproduction's) stays out of stdout, which then
    holds only the JSON printed afterwards."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def say(line: str) -> None:
    """One line on stderr, flushed; nothing when stderr is gone (the record says it)."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def stderr_is_tty() -> bool:
    try:
        return os.isatty(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
