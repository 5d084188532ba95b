"""The command lines of the analysis and launch tools (table, plot, the reports, compare, bench...): a parser that
refuses abbreviated flags and reports a usage error in one line (`baselines_meta.<tool>: error: ...`, exit status 2),
bounded integer flags, and the checks and the atomic write of an output path, so that a tool never leaves a
half-written file or a traceback where a file was in the way."""
from __future__ import annotations

import argparse
import difflib
import os
import sys
from typing import Optional


def tool_name(prog: str) -> str:
    """'python -m baselines_meta.compare' -> 'baselines_meta.compare' (the prefix of the tool's error lines)."""
    return prog.split()[-1]


class ToolParser(argparse.ArgumentParser):
    """argparse without abbreviations (`--ou` is not `--out`), whose usage errors are one line on stderr and exit 2;
    an unknown flag's line names the closest known flags."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            known = [o for a in self._actions for o in a.option_strings]
            for fl in (a.split("=")[0] for a in message.split(":", 1)[1].split() if a.startswith("-")):
                close = difflib.get_close_matches(fl, known, n=2, cutoff=0.6)
                message = f"unknown flag {fl}" + (f"; did you mean {' or '.join(close)}?" if close else "")
                break
        fail(tool_name(self.prog), message)


def fail(tool: str, message: str):
    """One line `<tool>: error: <message>` on stderr, then exit status 2."""
    print(f"{tool}: error: {message}", file=sys.stderr)
    sys.exit(2)


def int_at_least(minimum: int):
    """An argparse type: an integer >= minimum ('1e4' accepted when whole); argparse names the flag in the error."""
    kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")

    def parse(s: str) -> int:
        try:
            v = float(s)
        except ValueError:
            v = float("nan")
        if not (v == v and abs(v) != float("inf") and v == int(v) and v >= minimum):
            raise argparse.ArgumentTypeError(f"must be {kind}, got {s!r}")
        return int(v)

    return parse


def _nearest_existing(path: str) -> str:
    p = os.path.abspath(path)
    while not os.path.lexists(p):
        p = os.path.dirname(p)
    return p


def dir_error(path: str) -> Optional[str]:
    """Why `path` cannot be (or be made) a directory to write in, or None: a file is in the way, or the nearest
    existing folder is not writable."""
    if os.path.lexists(path) and not os.path.isdir(path):
        return f"{path} exists and is not a directory"
    near = _nearest_existing(path)
    if not os.path.isdir(near):
        return f"cannot create {path}: {near} is not a directory"
    if not os.access(near, os.W_OK | os.X_OK):
        return f"cannot write in {path}: {near} is not writable"
    return None


def file_error(path: str) -> Optional[str]:
    """Why a file cannot be written at `path`, or None (its folder is made when missing)."""
    if os.path.isdir(path):
        return f"{path} is a directory"
    parent = os.path.dirname(os.path.abspath(path))
    err = dir_error(parent)
    if err is not None:
        return f"cannot write {path}: {err}"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"cannot write {path}: not writable"
    return None


def write_text(path: str, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file beside it, then a rename); makes its folder."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
