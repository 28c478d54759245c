"""gitruns' own settings, read from git config (``gitruns.<key>``).

They follow the repository, the user and the system like every git setting.
An environment variable may override a key for one invocation, and
``git -c gitruns.key=value run ...`` works because git hands ``-c`` values to
subcommands in GIT_CONFIG_PARAMETERS (and GIT_CONFIG_COUNT), which are read
here too; :func:`overlay_command_line` makes them visible to every pygit2 read
of the repository's config (``remote.<name>.gitrunsStore`` included).
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

import pygit2

from .errors import ConfigError

# key -> (environment variable, default, kind, help)
KEYS: dict[str, tuple[str, str, str, str]] = {
    "gitruns.dirty": (
        "GITRUNS_DIRTY", "warn", "choice:warn,allow,refuse",
        "What exec does when the working tree has uncommitted changes: warn (one line on "
        "stderr), allow (silent) or refuse (exit 1 before the command starts).",
    ),
    "gitruns.untrackedMaxSize": (
        "GITRUNS_UNTRACKED_MAX_SIZE", "1m", "size",
        "Untracked files larger than this are listed with their hash in run.json instead "
        "of being stored in the snapshot tree.",
    ),
    "gitruns.untrackedMaxFiles": (
        "GITRUNS_UNTRACKED_MAX_FILES", "10000", "size",
        "At most this many untracked files go into a run's snapshot; the rest are listed "
        "and the run is dirty.",
    ),
    "gitruns.untrackedMaxTotal": (
        "GITRUNS_UNTRACKED_MAX_TOTAL", "100m", "size",
        "At most this many bytes of untracked files go into a run's snapshot; the rest are "
        "listed and the run is dirty.",
    ),
    "gitruns.logMaxSize": (
        "GITRUNS_LOG_MAX_SIZE", "1m", "size",
        "Captured stdout/stderr larger than this keep only their head and tail in git; the "
        "full stream goes to the artifact cache.",
    ),
    "gitruns.cacheDir": (
        "GITRUNS_CACHE_DIR", "", "path",
        "The content-addressed artifact cache. Default: gitruns/cache under the "
        "repository's common git dir, shared by all worktrees.",
    ),
    "gitruns.linkType": (
        "GITRUNS_LINK_TYPE", "reflink,copy", "list",
        "How outputs enter the cache, tried in order: reflink, hardlink, copy. hardlink "
        "makes the workspace file read-only, since it then is the cached object.",
    ),
    "gitruns.keepInputs": (
        "GITRUNS_KEEP_INPUTS", "true", "bool",
        "Whether inputs (-i, and pipeline deps) that git does not track are copied into the "
        "artifact cache at launch (reflink or copy, never a hardlink), so a rerun can get them "
        "back by digest and push can share them.",
    ),
    "gitruns.keepInputsMaxSize": (
        "GITRUNS_KEEP_INPUTS_MAX_SIZE", "1g", "size",
        "Inputs larger than this (a directory: all its files together) are recorded by digest "
        "only, as not kept.",
    ),
    "gitruns.envInclude": (
        "GITRUNS_ENV_INCLUDE", "", "list",
        "Extra environment variable names or prefixes (ending in *) recorded in env.json, "
        "besides the built-in list.",
    ),
    "gitruns.hooks.block": (
        "GITRUNS_HOOKS_BLOCK", "false", "bool",
        "When true, the pre-commit hook's warnings stop the commit (exit 1) instead of only "
        "being printed.",
    ),
    "gitruns.lsMetrics": (
        "GITRUNS_LS_METRICS", "", "list",
        "Metric names shown as columns by 'git run ls' (default: the most common ones).",
    ),
}

_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str, key: str) -> int:
    raw = text.strip().lower().rstrip("b")
    unit = raw[-1:] if raw[-1:] in "kmg" else ""
    number = raw[: -1] if unit else raw
    try:
        return int(float(number) * _SIZE_UNITS[unit])
    except ValueError:
        raise ConfigError(f"{key}: '{text}' is not a size (like 500k, 1m, 2g)") from None


def command_line_config() -> list[tuple[str, str | None]]:
    """The ``git -c key=value`` pairs git hands to subcommands, in git's order:
    GIT_CONFIG_COUNT/GIT_CONFIG_KEY_<n>/GIT_CONFIG_VALUE_<n> first, then
    GIT_CONFIG_PARAMETERS (``'key'='value'``, or ``'key=value'`` from older gits;
    a key without a value is boolean true, given as None).  libgit2 reads neither."""
    out: list[tuple[str, str | None]] = []
    count_text = os.environ.get("GIT_CONFIG_COUNT", "")
    if count_text:
        try:
            count = int(count_text)
        except ValueError:
            raise ConfigError(f"GIT_CONFIG_COUNT is '{count_text}', not a number") from None
        for i in range(max(0, count)):
            key = os.environ.get(f"GIT_CONFIG_KEY_{i}")
            value = os.environ.get(f"GIT_CONFIG_VALUE_{i}")
            if not key or value is None:
                raise ConfigError(f"GIT_CONFIG_COUNT is {count} but GIT_CONFIG_KEY_{i} or "
                                  f"GIT_CONFIG_VALUE_{i} is missing")
            out.append((key, value))
    params = os.environ.get("GIT_CONFIG_PARAMETERS", "")
    if params:
        try:
            items = shlex.split(params)
        except ValueError:
            raise ConfigError("GIT_CONFIG_PARAMETERS cannot be read (unbalanced quotes)") from None
        for item in items:
            key, sep, value = item.partition("=")
            out.append((key, value if sep else None))
    return out


def _cli_overrides() -> dict[str, str]:
    """``git -c`` values by lower-case key, the last one winning as in git."""
    return {key.lower(): "true" if value is None else value for key, value in command_line_config()}


# Sections of `git -c` config that gitruns or libgit2 read through pygit2; other
# sections (credentials, http headers) are never copied to the overlay file.
_OVERLAY_SECTIONS = ("gitruns", "remote", "core", "extensions", "user", "author", "committer", "color", "pager")


def _escape(text: str) -> str:
    """Text for inside double quotes in a git config file."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")


def _quote(value: str) -> str:
    return f'"{_escape(value)}"'


def overlay_command_line(config: pygit2.Config) -> None:
    """Make ``git -c`` values part of a repository's pygit2 config, above every
    file, as git sees them: written to a private temporary config file (removed
    when the process ends) added at the highest level.  Nothing is done when
    there are none."""
    pairs = [(k, v) for k, v in command_line_config() if k.split(".", 1)[0].lower() in _OVERLAY_SECTIONS]
    if not pairs:
        return
    import atexit
    import tempfile

    lines = []
    for key, value in pairs:
        section, _, rest = key.partition(".")
        sub, dot, name = rest.rpartition(".")
        if not name or not section:
            raise ConfigError(f"git -c {key}: not a config key (section.name)")
        header = f'[{section} "{_escape(sub)}"]' if dot else f"[{section}]"
        lines.append(header)
        lines.append(f"\t{name}" if value is None else f"\t{name} = {_quote(value)}")
    fd, path = tempfile.mkstemp(prefix="gitruns-config-", suffix=".gitconfig")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write("\n".join(lines) + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot apply git -c values: {exc}") from None
    atexit.register(_remove, path)
    try:
        # RepositoryConfig refuses add_file (1.21); the libgit2 call it would make works,
        # and the repository keeps this config object, so every later read sees the values.
        pygit2.Config.add_file(config, path, pygit2.enums.ConfigLevel.APP, True)
    except (pygit2.GitError, ValueError) as exc:
        raise ConfigError(f"cannot apply git -c values: {exc}") from None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@dataclass
class Settings:
    values: dict[str, str]

    def get(self, key: str) -> str:
        return self.values[key]

    def size(self, key: str) -> int:
        return parse_size(self.values[key], key)

    def flag(self, key: str) -> bool:
        return self.values[key].lower() in ("true", "yes", "on", "1")

    def items(self, key: str) -> list[str]:
        return [p.strip() for p in self.values[key].replace(",", " ").split() if p.strip()]


def load(git: pygit2.Repository | None) -> Settings:
    """Resolve every key: environment, then ``git -c``, then git config, then default."""
    cli = _cli_overrides()
    values: dict[str, str] = {}
    try:
        config = git.config if git is not None else pygit2.Config.get_global_config()
    except (pygit2.GitError, OSError) as exc:
        raise ConfigError(f"cannot read git config: {exc}") from None
    for key, (env_name, default, kind, _help) in KEYS.items():
        value: str | None = os.environ.get(env_name)
        if value is None:
            value = cli.get(key.lower())
        if value is None:
            try:
                value = config[key] if key in config else None
            except (pygit2.GitError, ValueError) as exc:
                raise ConfigError(f"cannot read {key} from git config: {exc}") from None
        if value is None:
            value = default
        if kind.startswith("choice:"):
            allowed = kind.split(":", 1)[1].split(",")
            if value not in allowed:
                raise ConfigError(f"{key} is '{value}'; expected one of {', '.join(allowed)}")
        elif kind == "size":
            parse_size(value, key)
        elif kind == "bool" and value.lower() not in ("true", "false", "yes", "no", "on", "off", "1", "0", ""):
            raise ConfigError(f"{key} is '{value}'; expected true or false")
        values[key] = value
    return Settings(values)
