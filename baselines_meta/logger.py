"""baselines-format logger: stdout table, log.txt (the same table), progress.csv, progress.json, TensorBoard.

A Logger is an object passed to the training loop (never a global). Only rank 0 builds one with outputs.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import sys
from typing import Optional, TextIO

from baselines_meta import faults

FORMATS = ("stdout", "log", "csv", "json", "tensorboard")


class LogFormatError(ValueError):
    pass


def parse_formats(s: str) -> list[str]:
    out = [f.strip() for f in s.split(",") if f.strip()]
    bad = [f for f in out if f not in FORMATS]
    if bad:
        raise LogFormatError(f"unknown log format(s) {', '.join(bad)}: choose from {', '.join(FORMATS)}")
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:<8.3g}"
    return str(v)


def _trunc(s: str, n: int = 30) -> str:
    return s[: n - 3] + "..." if len(s) > n else s


class TableOutput:
    """baselines HumanOutputFormat: a boxed key | value table per dump."""

    def __init__(self, f: TextIO, own: bool):
        self.f, self.own = f, own

    def write(self, kvs: dict, step: int) -> None:
        rows = [(_trunc(k), _trunc(_fmt(v))) for k, v in sorted(kvs.items())]
        if not rows:
            return
        kw = max(len(k) for k, _ in rows)
        vw = max(len(v) for _, v in rows)
        line = "-" * (kw + vw + 7)
        out = [line] + [f"| {k}{' ' * (kw - len(k))} | {v}{' ' * (vw - len(v))} |" for k, v in rows] + [line]
        self.f.write("\n".join(out) + "\n")
        self.f.flush()

    def close(self) -> None:
        if self.own:
            self.f.close()


class CSVOutput:
    """progress.csv; when new keys appear, the file is rewritten with the wider header (baselines)."""

    def __init__(self, path: str, restore: Optional[dict] = None):
        self.path = path
        self.keys: list[str] = list(restore["keys"]) if restore else []
        self.rows: list[dict] = [dict(r) for r in restore["rows"]] if restore else []
        if restore is not None:
            self._rewrite()

    def write(self, kvs: dict, step: int) -> None:
        faults.point("progress")
        new = [k for k in sorted(kvs) if k not in self.keys]
        self.rows.append(dict(kvs))
        if new:
            self.keys += new
            self._rewrite()
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, self.keys, restval="").writerow(self._clean(kvs))

    def _clean(self, kvs: dict) -> dict:
        return {k: ("" if v is None else v) for k, v in kvs.items()}

    def _rewrite(self) -> None:
        tmp = self.path + ".tmp"
        with faults.writing(self.path, tmp):
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, self.keys, restval="")
                w.writeheader()
                for r in self.rows:
                    w.writerow(self._clean(r))
            os.replace(tmp, self.path)

    def close(self) -> None:
        pass


class JSONOutput:
    def __init__(self, path: str):
        self.f = open(path, "a")

    def write(self, kvs: dict, step: int) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in kvs.items()}
        self.f.write(json.dumps(clean) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


class TensorBoardOutput:
    def __init__(self, log_dir: str):
        import tensorflow as tf

        self.tf = tf
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "tb"))

    def write(self, kvs: dict, step: int) -> None:
        with self.writer.as_default():
            for k, v in kvs.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self.tf.summary.scalar(k, float(v), step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Logger:
    """record(key, value) then dump(step) writes one row to every output."""

    def __init__(self, log_dir: Optional[str], formats: list[str], stdout: TextIO = sys.stdout,
                 restore: Optional[dict] = None, sizes: Optional[dict] = None):
        """restore / sizes: resuming a run, continue each file from its state at the checkpoint."""
        self.dir = log_dir
        sizes = sizes or {}
        if log_dir is not None:
            for name in ("log.txt", "progress.json"):
                path = os.path.join(log_dir, name)
                if restore is not None and os.path.exists(path):
                    with open(path, "r+b") as f:
                        f.truncate(sizes.get(name, 0))
        self.kvs: dict = {}
        self.outputs = []
        self._log_file: Optional[TextIO] = None
        for f in formats:
            if f == "stdout":
                self.outputs.append(TableOutput(stdout, own=False))
            elif f == "log":
                self._log_file = open(os.path.join(log_dir, "log.txt"), "a")
                self.outputs.append(TableOutput(self._log_file, own=True))
            elif f == "csv":
                self.outputs.append(CSVOutput(os.path.join(log_dir, "progress.csv"), (restore or {}).get("csv")))
            elif f == "json":
                self.outputs.append(JSONOutput(os.path.join(log_dir, "progress.json")))
            elif f == "tensorboard":
                self.outputs.append(TensorBoardOutput(log_dir))
        self._echo = "stdout" in formats
        self._stdout = stdout

    def get_state(self) -> dict:
        csvs = [o for o in self.outputs if isinstance(o, CSVOutput)]
        return {"csv": {"keys": list(csvs[0].keys), "rows": [dict(r) for r in csvs[0].rows]} if csvs else None}

    def record(self, key: str, value) -> None:
        self.kvs[key] = value

    def record_dict(self, d: dict) -> None:
        self.kvs.update(d)

    def dump(self, step: int) -> dict:
        kvs, self.kvs = self.kvs, {}
        for o in self.outputs:
            with faults.writing(_name(o)):
                o.write(kvs, step)
        return kvs

    def info(self, msg: str) -> None:
        """A plain message line to stdout and log.txt."""
        if self._echo:
            with faults.writing("stdout"):
                self._stdout.write(msg + "\n")
                self._stdout.flush()
        if self._log_file is not None:
            with faults.writing(self._log_file.name):
                self._log_file.write(msg + "\n")
                self._log_file.flush()

    def close(self) -> None:
        for o in self.outputs:
            with contextlib.suppress(OSError):  # every write was flushed and reported its own failure
                o.close()


def _name(output) -> str:
    """The file an output writes (for error messages)."""
    f = getattr(output, "path", None) or getattr(getattr(output, "f", None), "name", None)
    return f if isinstance(f, str) else type(output).__name__


class NullLogger(Logger):
    """What ranks other than 0 get: records are dropped."""

    def __init__(self):
        super().__init__(None, [])

    def dump(self, step: int) -> dict:
        kvs, self.kvs = self.kvs, {}
        return kvs
