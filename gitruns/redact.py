"""Keeping secrets out of records, and hyperparameters in.

A *name* (an environment variable, a config key, a ``--long-option``) is cut into
segments at ``_ - .`` (any character but a letter or digit), at camelCase
humps and at letter/digit boundaries, then lower-cased: ``AWS_SECRET_ACCESS_KEY``
is ``aws secret access key``, ``apiKey`` is ``api key``, ``max_tokens`` is
``max tokens``.  A name is secret when its segments say so (see ``looks_secret``);
matching whole segments, not substrings, is what keeps ``tokenizer``,
``max_tokens``, ``author`` or ``num_keys`` out of the net: losing a
hyperparameter silently is a fault in a reproducibility tool, too.

The value under a secret name is replaced by ``<redacted>`` whole, whatever its
shape (a list or mapping too), except ``null`` and booleans, which cannot carry a
secret (``use_auth_token: true`` stays readable).  Passwords inside URLs
(``scheme://user:password@host``) are redacted in every recorded string.

Everything here runs in time linear in its input: records may hold values of
megabytes, and a backtracking regular expression once made a 300 KB value cost 19 s.
"""
from __future__ import annotations

import re
from typing import Any

REDACTED = "<redacted>"

# A segment that is one of these makes the name secret wherever it stands.
_SECRET_SEGMENTS = frozenset({
    "secret", "secrets", "password", "passwords", "passwd", "passphrase", "pwd",
    "credential", "credentials", "creds", "auth", "authorization", "oauth",
    "cookie", "cookies", "dsn", "signature", "sessionid",
    # one-word spellings of the pairs below ("APIKEY", "hftoken")
    "apikey", "apikeys", "apitoken", "authtoken", "accesstoken", "refreshtoken", "bearertoken",
    "sessiontoken", "hftoken", "privatekey", "privkey", "secretkey", "accesskey", "sshkey",
})
# A segment ending in one of these is secret too ("PGPASSWORD", "clientsecret").
_SECRET_SUFFIXES = ("password", "passwd", "passphrase", "secret", "apikey")
# "token" is a secret (hf_token, GITHUB_TOKEN, --token) when it ends the name, or is
# followed only by words that still name its value; but in language models tokens
# are data: pad_token, eos_token_id, max_token, token_type are hyperparameters.
_TOKEN_VALUE_WORDS = frozenset({"value", "secret", "string", "str", "base64", "raw"})
_TOKEN_NOT_SECRET_BEFORE = frozenset({
    "pad", "bos", "eos", "unk", "sep", "cls", "mask", "start", "end", "begin", "special", "image",
    "audio", "video", "vision", "placeholder", "new", "added", "max", "min", "num", "n", "first",
    "last", "next", "prev", "stop", "eot", "boi", "eoi", "decoder", "encoder", "prefix", "suffix",
})
# "key"/"keys" is a secret only in these pairs (api_key, AWS_SECRET_ACCESS_KEY,
# private_key, WANDB_API_KEY), and only when it ends the name or is followed by a
# word naming its value (AWS_ACCESS_KEY_ID, private_key_pem), not a path to it
# (ssh_key_path).  sort_key, primary_key, num_keys, keyframes, monkey are data.
_KEY_QUALIFIERS = frozenset({
    "api", "private", "secret", "access", "auth", "signing", "encryption", "decryption", "ssh",
    "client", "master", "license", "licence", "account", "storage", "deploy", "service",
    "subscription", "consumer", "session", "sas", "shared", "webhook", "gpg", "pgp", "hmac",
    "jwt", "crypto", "app", "admin", "root", "host", "server", "priv",
})
_KEY_VALUE_WORDS = frozenset({"id", "value", "secret", "string", "str", "base64", "pem", "hex", "data", "raw"})
_SESSION_SECRET_WORDS = frozenset({"id", "key", "secret", "token"})

# Segments: a run of capitals not followed by a lower-case letter ("API" in "APIKey"),
# an optional capital and lower-case letters ("Key"), or digits.  Every quantifier
# runs over one character class and backtracks at most one step, so this is linear.
_SEGMENT = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Every secret rule needs a segment containing one of these; a name with none of
# them (most names) is decided by a few substring scans in C.
_HINTS = ("secret", "pass", "pwd", "cred", "auth", "cookie", "dsn", "signature", "session", "token", "key")
# '://' then a URL's userinfo up to the authority's last '@'; the authority ends
# (RFC 3986) at the path, query or fragment, or at a blank.
_USERINFO = re.compile(r"://([^/?#\s]*)@")
# One query parameter: a match starts only at '?' or '&', its name is bounded, and
# its value ends at the next '&', '#' or blank, so this is linear too.
_QUERY_PARAM = re.compile(r"[?&]([A-Za-z0-9_.~-]{1,200})=([^&#\s]*)")


def segments(name: str) -> list[str]:
    """``'AWS_SECRET_ACCESS_KEY'`` -> ``['aws', 'secret', 'access', 'key']``."""
    return " ".join(_SEGMENT.findall(name)).lower().split()


def _all_in(segs: list[str], start: int, words: frozenset[str]) -> bool:
    """Whether segs[start:] are all in words; stops at the first miss (no slice
    copy), so scanning a huge name stays linear."""
    return all(segs[j] in words for j in range(start, len(segs)))


def looks_secret(name: str) -> bool:
    """Whether a value under this name must be kept out of records (module docstring)."""
    lowered = name.lower()
    if not any(hint in lowered for hint in _HINTS):
        return False
    segs = segments(name)
    if segs == ["pwd"]:
        return False  # $PWD is the shell's working directory
    last = len(segs) - 1
    for i, seg in enumerate(segs):
        if seg in _SECRET_SEGMENTS or seg.endswith(_SECRET_SUFFIXES):
            return True
        if seg == "token":
            if i > 0 and segs[i - 1] in _TOKEN_NOT_SECRET_BEFORE:
                continue
            if _all_in(segs, i + 1, _TOKEN_VALUE_WORDS):
                return True
        elif seg in ("key", "keys") and i > 0 and segs[i - 1] in _KEY_QUALIFIERS:
            if _all_in(segs, i + 1, _KEY_VALUE_WORDS):
                return True
        elif seg == "session" and i < last and segs[i + 1] in _SESSION_SECRET_WORDS:
            return True
    return False


def scrub_text(text: str) -> str:
    """Redact the password of every ``scheme://user:password@host`` in ``text``,
    and in text holding a URL, query parameters with secret names (``?token=..``).

    Linear time: a match can only start at a '://', runs over one URL authority
    (no '/', '?', '#' or blank, so authorities of different '://'s never overlap)
    and backtracks at most over that same authority, to its *last* '@', so an
    unescaped '@' inside the password does not leak the password's tail.
    """
    if "://" not in text:
        return text
    text = _USERINFO.sub(_scrub_userinfo, text)
    if "=" in text:
        # Signed and token URLs: ?access_token=..., &X-Amz-Signature=..., &sig=...
        text = _QUERY_PARAM.sub(_scrub_query_param, text)
    return text


def _scrub_query_param(m: re.Match[str]) -> str:
    name = m.group(1)
    if name.lower() == "sig" or looks_secret(name):  # "sig": Azure SAS signatures
        return f"{m.group(0)[0]}{name}={REDACTED}"
    return m.group(0)


def _scrub_userinfo(m: re.Match[str]) -> str:
    user, colon, password = m.group(1).partition(":")
    if not colon or not password:
        return m.group(0)
    return f"://{user}:{REDACTED}@"


def env_value(name: str, value: str) -> str:
    return REDACTED if looks_secret(name) else scrub_text(value)


def _keeps(value: Any) -> bool:
    """Values that cannot hold a secret and so stay readable under a secret name."""
    return value is None or isinstance(value, bool)


def mapping(data: Any) -> Any:
    """A copy of a config tree: whatever lies under a secret-looking key is redacted
    whole (a list or mapping too), and URL passwords in every string."""
    if isinstance(data, dict):
        return {
            k: (REDACTED if looks_secret(str(k)) and not _keeps(v) else mapping(v))
            for k, v in data.items()
        }
    if isinstance(data, (list, tuple)):
        return [mapping(v) for v in data]
    if isinstance(data, str):
        return scrub_text(data)
    return data


# "Authorization: Bearer X", as given to curl -H.
_HEADER = re.compile(r"([A-Za-z0-9_-]{1,100}):[ \t]*")


def argv(args: list[str]) -> list[str]:
    """Redact values of secret-looking options: --token X, --api-key=X, db.password=X,
    -H 'Authorization: Bearer X'.  The name rule is looks_secret's."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            hide_next = False
            # A flag like --use-auth-token takes no value: leave the next option alone.
            if not arg.startswith("--"):
                out.append(REDACTED)
                continue
        name, eq, _ = arg.partition("=")
        if eq and name and looks_secret(name):
            out.append(f"{scrub_text(name)}={REDACTED}")
        elif arg.startswith("-") and not eq and looks_secret(arg):
            out.append(arg)
            hide_next = True
        elif (m := _HEADER.match(arg)) and looks_secret(m.group(1)):
            out.append(f"{m.group(0)}{REDACTED}")
        else:
            out.append(scrub_text(arg))
    return out
