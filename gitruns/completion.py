"""Shell completion for ``git run``: bash (through git's own completion) and zsh.

The scripts are generated from the click tree, so verbs and options cannot
drift from ``--help``; ``git run completion bash|zsh`` prints them and the
package ships them where bash-completion and zsh look (``completion/`` in the
source tree; a test checks they are current).

- bash: git's completion calls ``_git_run`` for ``git run <TAB>`` when it
  exists, and loads it on demand from a file named ``git-run`` in
  bash-completion's directories; the script uses git's helpers (``__gitcomp``,
  ``__gitcomp_nl``, ``__git_remotes``).
- zsh: git's ``_git`` calls ``_git-run`` when it exists; the script is a
  ``#compdef git-run`` file for a directory on ``$fpath``.

Run ids and names come from ``git run __complete runs``, which the
executable answers before importing click or pygit2 (see ``main.py``): one
``git for-each-ref``, the listing cache, and ``git cat-file --batch`` for the
records it lacks.  Outside a repository it prints nothing and exits 0.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import click

SHELLS = ("bash", "zsh")

# Where runs live (the run refs and the tracking refs of remotes, as in
# runrefs.py) and the run index that maps a commit to its run's name (runindex.py).
_RUN_REFS = "refs/runs/"
_TRACKING_REFS = "refs/gitruns/remotes/"
_LISTING_CACHE = os.path.join("gitruns", "index.sqlite")
_ID_RE = re.compile(r"^[0-9a-hjkmnp-tv-z]{26}$")
# Names offered for completion: only what a shell takes unquoted, so a record
# (which may come from anyone's remote) cannot inject anything into a command line.
_SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9._@%+=:,/-]{1,100}$")
_MAX_RECORD = 1 << 20

# Kinds of value an argument or option takes, for the scripts:
# run (an id or name), remote, file, command, choice:<a,b,c>, or none (a flag).
RUN, REMOTE, FILE, COMMAND, NONE = "run", "remote", "file", "command", "none"


# -- run ids and names --------------------------------------------------------

def _git(args: list[str], stdin: bytes | None = None) -> bytes | None:
    try:
        proc = subprocess.run(["git", *args], input=stdin, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def run_candidates() -> list[str]:
    """Every run id this repository can show (local and fetched), newest first,
    then the names of those runs that have a shell-safe name.  Empty outside a
    repository; never raises."""
    out = _git(["for-each-ref", "--format=%(objectname) %(refname)", _RUN_REFS, _TRACKING_REFS])
    if out is None:
        return []
    commits: dict[str, str] = {}  # id -> commit (a local run wins over a tracking ref)
    for line in out.decode("utf-8", "replace").splitlines():
        oid, _, ref = line.partition(" ")
        rid = ref.rpartition("/")[2]
        if _ID_RE.match(rid) and (ref.startswith(_RUN_REFS) or rid not in commits):
            commits[rid] = oid
    ids = sorted(commits, reverse=True)
    names: list[str] = []
    by_commit = _names(commits)
    seen: set[str] = set(ids)
    for rid in ids:
        name = by_commit.get(commits[rid])
        if name and name not in seen and _SAFE_NAME_RE.match(name):
            seen.add(name)
            names.append(name)
    return ids + names


def _names(commits: dict[str, str]) -> dict[str, str]:
    """commit -> the run's name, from the listing cache, else from git."""
    wanted = set(commits.values())
    found: dict[str, str] = {}
    common = _git(["rev-parse", "--git-common-dir"])
    if common is not None:
        path = os.path.join(common.decode("utf-8", "replace").strip(), _LISTING_CACHE)
        found.update(_names_from_cache(path, wanted))
    missing = [c for c in wanted if c not in found]
    if missing:
        found.update(_names_from_git(missing))
    return found


def _names_from_cache(path: str, wanted: set[str]) -> dict[str, str]:
    import sqlite3
    from urllib.parse import quote

    if not os.path.exists(path):
        return {}
    try:
        db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=1)
        try:
            rows = db.execute("SELECT commit_id, name FROM runs").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return {}
    out: dict[str, str] = {}
    for commit, name in rows:
        if commit in wanted:
            out[commit] = name if isinstance(name, str) else ""
    return out


def _names_from_git(commits: list[str]) -> dict[str, str]:
    query = "".join(f"{c}:.gitruns/run.json\n" for c in commits).encode()
    out = _git(["cat-file", "--batch"], stdin=query)
    if out is None:
        return {}
    found: dict[str, str] = {}
    pos = 0
    for commit in commits:
        end = out.find(b"\n", pos)
        if end < 0:
            break
        header = out[pos:end].split()
        pos = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue
        size = int(header[2])
        if size <= _MAX_RECORD:
            found[commit] = _name_of(out[pos:pos + size]) or ""
        pos += size + 1
    return found


def _name_of(raw: Any) -> str | None:
    try:
        name = json.loads(raw).get("name")
    except (ValueError, TypeError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def print_runs() -> int:
    """``git run __complete runs``: one candidate a line, for the scripts."""
    import sys

    try:
        sys.stdout.write("".join(f"{c}\n" for c in run_candidates()))
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass
    return 0


# -- click hooks: `_GIT_RUN_COMPLETE` and the scripts' kinds ----------------------

def complete_runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """shell_complete for ID arguments."""
    return [c for c in run_candidates() if c.startswith(incomplete)]


def complete_remotes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """shell_complete for REMOTE arguments and options."""
    out = _git(["remote"])
    names = out.decode("utf-8", "replace").split() if out is not None else []
    return [n for n in names if n.startswith(incomplete)]


def complete_statuses(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """shell_complete for --status: the statuses ls knows."""
    return [s for s in _statuses() if s.startswith(incomplete)]


def _statuses() -> tuple[str, ...]:
    from .record import DERIVED_STATUSES

    return tuple(DERIVED_STATUSES)


# -- the command tree, as the scripts need it ---------------------------------

@dataclass
class Option:
    names: list[str]
    kind: str  # NONE for a flag
    help: str


@dataclass
class Node:
    path: str  # "" for git run itself, "exec", "hooks install"
    help: str
    options: list[Option] = field(default_factory=list)
    args: list[str] = field(default_factory=list)  # kinds, in order
    repeat_last: bool = False
    subcommands: list[str] = field(default_factory=list)


def _kind(param: click.Parameter) -> str:
    import click

    hook = getattr(param, "_custom_shell_complete", None)
    if hook is complete_runs:
        return RUN
    if hook is complete_remotes:
        return REMOTE
    if hook is complete_statuses:
        return "choice:" + ",".join(_statuses())
    if isinstance(param.type, click.Choice):
        return "choice:" + ",".join(str(c) for c in param.type.choices)
    if isinstance(param, click.Option) and param.is_flag:
        return NONE
    if param.type is click.UNPROCESSED and param.nargs == -1:
        return COMMAND
    return FILE


def tree() -> list[Node]:
    """Every command of ``git run``, parents before children, hidden ones left out."""
    import click

    from .cli import main

    nodes: list[Node] = []

    def visit(cmd: click.Command, path: str, ctx: click.Context) -> None:
        node = Node(path, (cmd.get_short_help_str(200) if path else (cmd.help or "").split("\n")[0]))
        for param in cmd.get_params(ctx):
            if isinstance(param, click.Option):
                if param.hidden:
                    continue
                names = [*param.opts, *param.secondary_opts]
                node.options.append(Option(names, _kind(param), (param.help or "").split("\n")[0]))
            elif isinstance(param, click.Argument):
                node.args.append(_kind(param))
                node.repeat_last = param.nargs == -1
        nodes.append(node)
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is None or sub.hidden:
                    continue
                node.subcommands.append(name)
                with click.Context(sub, info_name=name, parent=ctx, **sub.context_settings) as sub_ctx:
                    visit(sub, f"{path} {name}".strip(), sub_ctx)

    with click.Context(main, info_name="git run", **main.context_settings) as ctx:
        visit(main, "", ctx)
    return nodes


# -- bash -----------------------------------------------------------------------

def _sh_words(words: list[str]) -> str:
    return " ".join(words)


def bash_script() -> str:
    from . import __version__

    nodes = tree()
    spec = []
    kinds = []
    for node in nodes:
        opts = []
        for opt in node.options:
            for name in opt.names:
                takes = opt.kind != NONE and name.startswith("--")
                opts.append(name + ("=" if takes else ""))
                if opt.kind != NONE:
                    kinds.append(f"\t{_bash_case(node.path, name)}) kind={opt.kind} ;;")
        args = " ".join(node.args) + ("..." if node.repeat_last else "")
        spec.append(f"\t{_bash_case(node.path)})\n"
                    f"\t\tsubs=\"{_sh_words(node.subcommands)}\"\n"
                    f"\t\topts=\"{_sh_words(opts)}\"\n"
                    f"\t\targs=\"{args}\" ;;")
    return _BASH_TEMPLATE.format(version=__version__, spec="\n".join(spec), kinds="\n".join(kinds))


def _bash_case(path: str, option: str | None = None) -> str:
    key = path.replace(" ", "/")
    return f"'{key}'" if option is None else f"'{key}:{option}'"


_BASH_TEMPLATE = r"""# bash completion for git run (gitruns {version}).
# Generated by 'git run completion bash'; do not edit.
#
# git's own completion calls _git_run for 'git run <TAB>' and loads this file on
# demand when it is named git-run in a bash-completion directory, e.g.
#   git run completion bash > ~/.local/share/bash-completion/completions/git-run
# or source it from ~/.bashrc after git's completion.

# __git_run_spec PATH: sets subs (subcommands), opts (options; '--x=' takes a
# value) and args (kinds of the arguments; '...' repeats the last one).
__git_run_spec ()
{{
	subs= opts= args=
	case "$1" in
{spec}
	esac
}}

# __git_run_kind PATH OPTION: sets kind, what the option's value is.
__git_run_kind ()
{{
	kind=none
	case "$1:$2" in
{kinds}
	esac
}}

__git_run_complete_kind ()
{{
	local cur_="$2"
	case "$1" in
	run)
		__gitcomp_nl "$(__git run __complete runs)" "${{3-}}" "$cur_" ;;
	remote)
		__gitcomp_nl "$(__git_remotes)" "${{3-}}" "$cur_" ;;
	choice:*)
		local IFS=,
		local choices=(${{1#choice:}})
		IFS=$' \t\n'
		__gitcomp "${{choices[*]}}" "${{3-}}" "$cur_" ;;
	command)
		COMPREPLY=($(compgen -c -- "$cur_")) ;;
	*)
		# a file: leave it to bash's own filename completion
		COMPREPLY=() ;;
	esac
}}

_git_run ()
{{
	local i=1 w cmdpath= npos=0 dashdash= subs opts args kind
	if [ "${{words[0]##*/}}" != git-run ]; then
		# after 'git [options] run'
		i=$(( ${{__git_cmd_idx:-1}} + 1 ))
	fi
	__git_run_spec "$cmdpath"
	while [ "$i" -lt "$cword" ]; do
		w="${{words[i]}}"
		if [ -n "$dashdash" ]; then
			npos=$((npos + 1))
		elif [ "$w" = -- ]; then
			dashdash=1
		elif [[ $w == -* ]]; then
			if [[ $w != *=* ]]; then
				__git_run_kind "${{cmdpath// //}}" "$w"
				[ "$kind" = none ] || i=$((i + 1))
			fi
		elif [ "$npos" = 0 ] && [[ " $subs " == *" $w "* ]]; then
			cmdpath="${{cmdpath:+$cmdpath }}$w"
			__git_run_spec "${{cmdpath// //}}"
		else
			npos=$((npos + 1))
		fi
		i=$((i + 1))
	done
	local key="${{cmdpath// //}}"
	local kinds=($args) last
	if [ -z "$dashdash" ] && [ "$cword" -gt 0 ]; then
		# the value of an option: '--opt VALUE' or '--opt=VALUE'
		__git_run_kind "$key" "$prev"
		if [ "$kind" != none ] && [[ $prev == -* ]]; then
			__git_run_complete_kind "$kind" "$cur"
			return
		fi
		case "$cur" in
		--*=*)
			__git_run_kind "$key" "${{cur%%=*}}"
			__git_run_complete_kind "$kind" "${{cur#*=}}"
			return ;;
		-*)
			__gitcomp "$opts"
			return ;;
		esac
	fi
	if [ -n "$subs" ] && [ "$npos" = 0 ]; then
		__gitcomp "$subs"
		return
	fi
	if [ "${{#kinds[@]}}" -eq 0 ]; then
		return
	fi
	if [ "$npos" -lt "${{#kinds[@]}}" ]; then
		kind="${{kinds[npos]}}"
	else
		last="${{kinds[${{#kinds[@]}}-1]}}"
		[[ $last == *... ]] || return
		kind="$last"
	fi
	if [ "${{kind%...}}" = command ] && [ "$npos" -gt 0 ]; then
		return  # the command's own arguments: files
	fi
	__git_run_complete_kind "${{kind%...}}" "$cur"
}}

# 'git-run <TAB>' typed as one word.
if declare -F __git_complete >/dev/null 2>&1; then
	__git_complete git-run _git_run
fi
"""


# -- zsh ------------------------------------------------------------------------

def _zsh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def zsh_script() -> str:
    from . import __version__

    nodes = tree()
    spec = []
    kinds = []
    for node in nodes:
        subs = [f"{name}:{_describe(n)}" for n in nodes
                for name in [n.path.rpartition(" ")[2]] if n.path and n.path.rpartition(" ")[0] == node.path]
        opts = []
        for opt in node.options:
            for name in opt.names:
                opts.append(f"{name}:{_describe_text(opt.help)}")
                if opt.kind != NONE:
                    kinds.append(f"    ({_zsh_quote(node.path.replace(' ', '/') + ':' + name)}) kind={opt.kind} ;;")
        args = " ".join(node.args) + ("..." if node.repeat_last else "")
        spec.append(f"    ({_zsh_quote(node.path.replace(' ', '/'))})\n"
                    f"      subs=({' '.join(_zsh_quote(s) for s in subs)})\n"
                    f"      opts=({' '.join(_zsh_quote(o) for o in opts)})\n"
                    f"      args=({args}) ;;")
    return _ZSH_TEMPLATE.format(version=__version__, spec="\n".join(spec), kinds="\n".join(kinds))


def _describe(node: Node) -> str:
    return _describe_text(node.help)


def _describe_text(text: str) -> str:
    return text.replace(":", "\\:").replace("\n", " ").strip()


_ZSH_TEMPLATE = r"""#compdef git-run
# zsh completion for git run (gitruns {version}).
# Generated by 'git run completion zsh'; do not edit.
#
# git's own completion (_git) calls _git-run for 'git run <TAB>'.  Put this file,
# named _git-run, in a directory on $fpath before compinit runs, e.g.
#   git run completion zsh > ~/.zsh/completions/_git-run
#   (and in ~/.zshrc: fpath=(~/.zsh/completions $fpath); autoload -Uz compinit; compinit)
# or source it from ~/.zshrc after compinit.

__git_run_spec () {{
  subs=() opts=() args=()
  case $1 in
{spec}
  esac
}}

__git_run_kind () {{
  kind=none
  case "$1:$2" in
{kinds}
  esac
}}

__git_run_complete_kind () {{
  local -a runs remotes choices
  case $1 in
    (run)
      runs=(${{(f)"$(_call_program runs git run __complete runs 2>/dev/null)"}})
      compadd -a runs ;;
    (remote)
      remotes=(${{(f)"$(_call_program remotes git remote 2>/dev/null)"}})
      compadd -a remotes ;;
    (choice:*)
      choices=(${{(s:,:)1#choice:}})
      compadd -a choices ;;
    (command)
      _command_names -e ;;
    (*)
      _files ;;
  esac
}}

_git-run () {{
  local -a subs opts args
  local kind w cmdpath= key prev cur=$words[CURRENT]
  integer i=2 npos=0 dashdash=0
  __git_run_spec ''
  while (( i < CURRENT )); do
    w=$words[i]
    if (( dashdash )); then
      (( npos++ ))
    elif [[ $w == -- ]]; then
      dashdash=1
    elif [[ $w == -* ]]; then
      if [[ $w != *=* ]]; then
        __git_run_kind ${{cmdpath// //}} $w
        [[ $kind == none ]] || (( i++ ))
      fi
    elif (( npos == 0 )) && (( ${{+subs[(r)$w:*]}} )); then
      cmdpath=${{cmdpath:+$cmdpath }}$w
      __git_run_spec ${{cmdpath// //}}
    else
      (( npos++ ))
    fi
    (( i++ ))
  done
  key=${{cmdpath// //}}
  prev=$words[CURRENT-1]
  if (( ! dashdash )); then
    if [[ $prev == -* && $prev != *=* ]]; then
      __git_run_kind $key $prev
      if [[ $kind != none ]]; then
        __git_run_complete_kind $kind
        return
      fi
    fi
    if [[ $cur == --*=* ]]; then
      __git_run_kind $key ${{cur%%=*}}
      compset -P '*='
      __git_run_complete_kind $kind
      return
    fi
    if [[ $cur == -* ]]; then
      _describe -t options option opts
      return
    fi
  fi
  if (( ${{#subs}} && npos == 0 )); then
    _describe -t commands command subs
    return
  fi
  (( ${{#args}} )) || return 1
  if (( npos < ${{#args}} )); then
    kind=$args[npos+1]
  else
    kind=$args[-1]
    [[ $kind == *... ]] || return 1
  fi
  if [[ ${{kind%...}} == command ]] && (( npos > 0 )); then
    _files
    return
  fi
  __git_run_complete_kind ${{kind%...}}
}}

# Autoloaded from $fpath: complete now.  Sourced: register for git-run.
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _git-run "$@"
else
  compdef _git-run git-run
fi
"""


def script(shell: str) -> str:
    if shell == "bash":
        return bash_script()
    if shell == "zsh":
        return zsh_script()
    raise ValueError(f"unknown shell {shell!r}; expected one of {', '.join(SHELLS)}")


# Where the package ships the scripts (data-files, relative to the prefix).
INSTALLED = {
    "bash": os.path.join("share", "bash-completion", "completions", "git-run"),
    "zsh": os.path.join("share", "zsh", "site-functions", "_git-run"),
}
# Where they are kept in the source tree.
SOURCE = {"bash": os.path.join("completion", "git-run"), "zsh": os.path.join("completion", "_git-run")}


if __name__ == "__main__":
    import sys

    print(script(sys.argv[1] if len(sys.argv) > 1 else "bash"), end="")
