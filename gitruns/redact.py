"""Keeping secrets out of records.

Names that look like secrets (``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``,
``*KEY*``, ...) have their values replaced by ``<redacted>``: environment
variables, configuration keys, and ``--name=value`` style arguments.  Passwords
inside URLs (``https://user:pw@host``) are redacted wherever they appear.
"""
from __future__ import annotations

import re
from typing import Any

REDACTED = "<redacted>"
_SECRET_WORDS = (
    "TOKEN", "SECRET", "PASSW", "PASSPHRASE", "PWD_", "KEY", "CREDENTIAL", "AUTH",
    "PRIVATE", "COOKIE", "SIGNATURE", "DSN", "SESSIONID",
)
# Names containing KEY that are not secrets.
_HARMLESS = ("KEYBOARD", "KEYMAP", "XKB_", "MONKEY", "KEYS_COUNT", "HOTKEY")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")


def looks_secret(name: str) -> bool:
    upper = name.upper().replace("-", "_").replace(".", "_")
    if any(h in upper for h in _HARMLESS):
        return False
    return any(word in upper for word in _SECRET_WORDS)


def scrub_text(text: str) -> str:
    """Redact passwords embedded in URLs."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)


def env_value(name: str, value: str) -> str:
    return REDACTED if looks_secret(name) else scrub_text(value)


def mapping(data: Any) -> Any:
    """A copy of a config tree with secret-looking keys' values redacted."""
    if isinstance(data, dict):
        return {
            k: (REDACTED if looks_secret(str(k)) and not isinstance(v, (dict, list)) else mapping(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [mapping(v) for v in data]
    if isinstance(data, str):
        return scrub_text(data)
    return data


def argv(args: list[str]) -> list[str]:
    """Redact values of secret-looking options: --token X, --api-key=X, db.password=X."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("-") and "=" in arg:
            name, _, _ = arg.partition("=")
            out.append(f"{name}={REDACTED}" if looks_secret(name.lstrip("-")) else scrub_text(arg))
        elif arg.startswith("--") and looks_secret(arg[2:]):
            out.append(arg)
            hide_next = True
        elif not arg.startswith("-") and "=" in arg and looks_secret(arg.partition("=")[0]):
            out.append(f"{arg.partition('=')[0]}={REDACTED}")
        else:
            out.append(scrub_text(arg))
    return out
