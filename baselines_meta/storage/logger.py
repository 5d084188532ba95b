"""baselines-format logger: stdout table, log.txt (the same table), progress.csv, progress.json, TensorBoard.

A Logger is an object passed to the training loop (never a global). Only rank 0 builds one with outputs.
"""
from __future__ import annotations

import contextlib
import csv
import glob
import importlib.util
import json
import math
import numbers
import os
import sys
from typing import Optional, TextIO

from baselines_meta.storage import faults

FORMATS = ("stdout", "log", "csv", "json", "tensorboard")
TB_DIR = "tb"  # <log_dir>/tb holds the TensorBoard event files


class LogFormatError(ValueError):
    """A log format the run cannot write (unknown, or its package missing); the CLI exits with code 2."""


def parse_formats(s: str) -> list[str]:
    """The comma list of formats. Checked before any training, so that a long run cannot die at its first dump:
    tensorboard needs the `tensorboard` package, which TensorFlow no longer installs."""
    out = [f.strip() for f in s.split(",") if f.strip()]
    bad = [f for f in out if f not in FORMATS]
    if bad:
        raise LogFormatError(f"unknown log format(s) {', '.join(bad)}: choose from {', '.join(FORMATS)}")
    if "tensorboard" in out and importlib.util.find_spec("tensorboard") is None:
        raise LogFormatError("log format tensorboard needs the tensorboard package: pip install tensorboard")
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
        """Write one dump's key | value table, keys sorted, keys and values cut to 30 characters."""
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
        """Close the file if this output opened it (not stdout)."""
        if self.own:
            self.f.close()


class CSVOutput:
    """progress.csv; when new keys appear, the file is rewritten with the wider header (baselines).

    `rows` is the Logger's list of every row dumped so far (this one included when write() is called); a resumed
    run rewrites the file from the rows restored from its checkpoint.
    """

    def __init__(self, path: str, rows: list[dict], resume: bool):
        self.path = path
        self.rows = rows
        self.keys: list[str] = []
        for r in rows:  # the header the rows were written with: each row's new keys, sorted, appended
            self.keys += [k for k in sorted(r) if k not in self.keys]
        if resume:
            self._rewrite()

    def write(self, kvs: dict, step: int) -> None:
        """Append one row; when it brings new keys, rewrite the whole file with the wider header."""
        faults.point("progress")
        new = [k for k in sorted(kvs) if k not in self.keys]
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
        """Nothing to close: every write opens and closes the file."""
        pass


class JSONOutput:
    """progress.json: one JSON object per dump and line, non-finite floats written as null."""
    def __init__(self, path: str):
        self.f = open(path, "a")

    def write(self, kvs: dict, step: int) -> None:
        """Append one dump as a JSON line (NaN and inf become null)."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in kvs.items()}
        self.f.write(json.dumps(clean) + "\n")
        self.f.flush()

    def close(self) -> None:
        """Close progress.json."""
        self.f.close()


class TensorBoardOutput:
    """Event files in <log_dir>/tb: each dump's finite numbers as scalars at `step`, plus single points (point()).

    The directory holds this run's events only: files found there are deleted and `history` (the (step, row) dumps
    restored from the checkpoint being resumed) is written again, so that a resumed run shows no step twice, whatever
    the killed process wrote after its last checkpoint. The writer is opened at the first event, not here: opening it
    initialises TensorFlow, after which configure_tf could no longer set the thread counts.
    """

    def __init__(self, log_dir: str, history: list[tuple[int, dict]]):
        self.dir = os.path.join(log_dir, TB_DIR)
        os.makedirs(self.dir, exist_ok=True)
        for f in glob.glob(os.path.join(self.dir, "events.out.tfevents.*")):
            os.remove(f)
        self._history = list(history)
        self._writer = None

    def _open(self):
        if self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(self.dir)
            history, self._history = self._history, []
            for step, row in history:
                self._scalars(row, step)
        return self._writer

    def _scalars(self, kvs: dict, step: int) -> None:
        import tensorflow as tf

        with self._open().as_default():
            for k, v in kvs.items():
                if isinstance(v, numbers.Real) and math.isfinite(v):
                    tf.summary.scalar(k, float(v), step=step)

    def write(self, kvs: dict, step: int) -> None:
        """Write one dump's finite numbers as scalars at `step` and flush."""
        self._scalars(kvs, step)
        self._writer.flush()

    def point(self, tag: str, value: float, step: int) -> None:
        """One lone scalar `tag` at `step`."""
        self.write({tag: value}, step)

    def close(self) -> None:
        """Close the writer, opening it first when restored history is still unwritten."""
        if self._writer is not None or self._history:  # a resumed run that ends at once still gets its history
            self._open().close()


def _restored_rows(restore: Optional[dict]) -> tuple[list[int], list[dict]]:
    """(steps, rows) of the dumps before the checkpoint being resumed (Logger.get_state)."""
    if restore is None:
        return [], []
    if "rows" not in restore:  # a checkpoint from before the steps were kept: {"csv": {"keys", "rows"} or None}
        rows = (restore.get("csv") or {}).get("rows", [])
        return [int(r["total/steps"]) for r in rows], [dict(r) for r in rows]
    return list(restore["steps"]), [dict(r) for r in restore["rows"]]


class Logger:
    """record(key, value) then dump(step) writes one row to every output; point() adds a lone TensorBoard scalar."""

    def __init__(self, log_dir: Optional[str], formats: list[str], stdout: TextIO = sys.stdout,
                 restore: Optional[dict] = None, sizes: Optional[dict] = None):
        """restore / sizes: resuming a run, continue each file from its state at the checkpoint."""
        self.dir = log_dir
        # Every dump so far, kept whatever the formats: progress.csv is rewritten from the rows when keys appear,
        # and a resumed run rewrites progress.csv and tb/ from them.
        self.steps, self.rows = _restored_rows(restore)
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
        self._tb: Optional[TensorBoardOutput] = None
        for f in formats:
            if f == "stdout":
                self.outputs.append(TableOutput(stdout, own=False))
            elif f == "log":
                self._log_file = open(os.path.join(log_dir, "log.txt"), "a")
                self.outputs.append(TableOutput(self._log_file, own=True))
            elif f == "csv":
                self.outputs.append(CSVOutput(os.path.join(log_dir, "progress.csv"), self.rows, restore is not None))
            elif f == "json":
                self.outputs.append(JSONOutput(os.path.join(log_dir, "progress.json")))
            elif f == "tensorboard":
                self._tb = TensorBoardOutput(log_dir, list(zip(self.steps, self.rows, strict=True)))
                self.outputs.append(self._tb)
        self._echo = "stdout" in formats
        self._stdout = stdout

    def get_state(self) -> dict:
        """The steps and rows dumped so far, for the checkpoint (a resumed run rewrites progress.csv and tb/ from them)."""
        return {"steps": list(self.steps), "rows": [dict(r) for r in self.rows]}

    def record_dict(self, d: dict) -> None:
        """Add key-value pairs to the row the next dump writes."""
        self.kvs.update(d)

    def dump(self, step: int) -> dict:
        """Write the recorded row to every output at `step`, keep it, and start a new row; returns the row written."""
        kvs, self.kvs = self.kvs, {}
        self.steps.append(step)
        self.rows.append(dict(kvs))
        for o in self.outputs:
            with faults.writing(_name(o)):
                o.write(kvs, step)
        return kvs

    def point(self, tag: str, value: float, step: int) -> None:
        """One scalar outside the epoch rows (each evaluation's mean return, as an epoch may hold several): only
        TensorBoard keeps it; progress.csv stays one row per epoch."""
        if self._tb is not None:
            self._tb.point(tag, value, step)

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
        """Close every output (errors on close are ignored: every write was flushed and reported its own)."""
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
        """Drop the recorded row; returns it."""
        kvs, self.kvs = self.kvs, {}
        return kvs
