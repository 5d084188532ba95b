"""Loading runs written by `compare` (<root>/<env>/<alg>/seed-<n>/) and the statistics of the paper's Table 2."""
from __future__ import annotations

import csv
import json
import math
import os
import sys
from typing import NamedTuple, Optional

import numpy as np


class Run(NamedTuple):
    """One run's evaluation curve (steps [E], mean returns [E]) with its identity, budget and whether it finished."""
    env: str
    alg: str
    seed: int
    steps: np.ndarray  # [E] env steps per worker at each evaluation
    returns: np.ndarray  # [E] mean evaluation return at each evaluation
    budget: int  # num_timesteps of the run
    done: bool  # finished: compare wrote its DONE file and it reached its budget
    dir: str


class RunFileError(ValueError):
    """A run's file that cannot be read (garbage bytes, a half-written line, a header only, a non-number); the message
    names the file and what is wrong."""


def _csv_rows(path: str, comment: Optional[str] = None) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV file whose values are all numbers or empty (lines starting with `comment` skipped);
    RunFileError when it does not decode, a row has another number of fields than the header (a half-written
    line), or a value is not a number."""
    name = os.path.basename(path)
    try:
        with open(path, newline="") as f:
            lines = [l for l in f.read().splitlines() if not (comment and l.startswith(comment))]
    except UnicodeDecodeError:
        raise RunFileError(f"{name}: not text (garbage bytes)") from None
    except OSError as e:
        raise RunFileError(f"{name}: {e.strerror or e}") from None
    if "\0" in "".join(lines):
        raise RunFileError(f"{name}: not text (garbage bytes)")
    rows = list(csv.reader(lines))
    if not rows or not rows[0]:
        raise RunFileError(f"{name}: empty")
    header = rows[0]
    for i, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise RunFileError(f"{name}: line {i} has {len(row)} of {len(header)} fields (a half-written line?)")
        for k, v in zip(header, row):
            if v != "":
                try:
                    float(v)
                except ValueError:
                    raise RunFileError(f"{name}: line {i}: {k} is {v!r}, not a number") from None
    return header, rows[1:]


_checked: dict = {}  # (path, mtime, size) -> the file's error or None: a report loads the same runs several times


def _check_file(path: str, monitor: bool) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _checked:
        try:
            header, rows = _csv_rows(path, comment="#" if monitor else None)
            if monitor and "r" not in header:
                raise RunFileError(f"{os.path.basename(path)}: no r column")
            if not monitor and not rows:
                raise RunFileError(f"{os.path.basename(path)}: a header and no row")
            _checked[key] = None
        except RunFileError as e:
            _checked[key] = e
    if _checked[key] is not None:
        raise _checked[key]


def check_run_files(d: str) -> None:
    """RunFileError when a file the tools read beside evaluations.csv is damaged: progress.csv (a header and no
    row is a damaged file: the logger writes the header with the first row) and the monitor files table reads
    (a header alone is a run without episodes)."""
    _check_file(os.path.join(d, "progress.csv"), monitor=False)
    for name in ("0.monitor.csv", "0.d1.monitor.csv"):
        _check_file(os.path.join(d, name), monitor=True)


def load_run(d: str, env: str, alg: str, seed: int) -> Optional[Run]:
    """The run in directory d from its evaluations.csv (and config.json's budget); None when it has no
    evaluations.csv yet. RunFileError when evaluations.csv holds no evaluation or one of the run's files is damaged
    (check_run_files)."""
    path = os.path.join(d, "evaluations.csv")
    if not os.path.exists(path):
        return None
    header, rows = _csv_rows(path)
    if not rows:  # a run writes the header when it starts: no evaluation yet, or a damaged file when it is DONE
        finished = os.path.exists(os.path.join(d, "DONE"))
        raise RunFileError(f"evaluations.csv: a header and no evaluation{' in a finished run' if finished else ' yet'}")
    if "steps" not in header or not any(k.startswith("return_") for k in header):
        raise RunFileError("evaluations.csv: no steps or return_<i> column")
    col = {k: i for i, k in enumerate(header)}
    ret = [i for k, i in col.items() if k.startswith("return_")]
    try:
        steps = np.array([int(float(r[col["steps"]])) for r in rows])
        rets = np.array([np.mean([float(r[i]) for i in ret if r[i] != ""]) for r in rows])
    except (ValueError, OverflowError):
        raise RunFileError("evaluations.csv: a row without steps or returns") from None
    if np.any(np.diff(steps) <= 0):
        raise RunFileError("evaluations.csv: the steps do not increase")
    check_run_files(d)
    try:
        with open(os.path.join(d, "config.json")) as f:
            budget = int(json.load(f)["schedule"]["num_timesteps"])
    except (OSError, KeyError, ValueError, TypeError):
        budget = int(steps[-1])
    done = os.path.exists(os.path.join(d, "DONE")) and steps[-1] >= budget
    return Run(env, alg, seed, steps, rets, budget, bool(done), d)


_reported: set = set()  # (prog, directory, reason): each skipped run named once a process


def skip(prog: str, d: str, reason: str) -> None:
    """One line `<prog>: skipping <d>: <reason>` on stderr, once a process for each run and reason."""
    if (prog, d, reason) not in _reported:
        _reported.add((prog, d, reason))
        print(f"{prog}: skipping {d}: {reason}", file=sys.stderr)


def run_config(run_dir: str, prog: str = "baselines_meta") -> Optional[dict]:
    """A run's config.json; None (named on stderr) when it is missing or damaged, silently in a run that has not
    written it yet (no config.json and no DONE: just started)."""
    if not any(os.path.exists(os.path.join(run_dir, f)) for f in ("config.json", "DONE")):
        return None
    try:
        with open(os.path.join(run_dir, "config.json")) as f:
            cfg = json.load(f)
        cfg["env_id"], cfg["alg"], int(cfg["seed"])  # noqa: B018
        return cfg
    except (OSError, ValueError, KeyError, TypeError) as e:
        skip(prog, run_dir, f"config.json: {type(e).__name__}: {e}")
        return None


def load_run_or_skip(d: str, env: str, alg: str, seed: int, prog: str) -> Optional[Run]:
    """load_run, or None with one line `<prog>: skipping <d>: <reason>` on stderr for a run with a damaged file."""
    try:
        return load_run(d, env, alg, seed)
    except RunFileError as e:
        skip(prog, d, str(e))
        return None


def load_runs(root: str, prog: str = "baselines_meta") -> list[Run]:
    """Every run under root/<env>/<alg>/seed-<n>/ that has evaluations, sorted by env, alg and seed directory. A run
    with a damaged file is left out and named in one line on stderr (`<prog>: skipping <dir>: <reason>`)."""
    out = []
    if not os.path.isdir(root):
        return out
    for env in sorted(os.listdir(root)):
        for alg in sorted(os.listdir(os.path.join(root, env))) if os.path.isdir(os.path.join(root, env)) else []:
            ad = os.path.join(root, env, alg)
            for sd in sorted(os.listdir(ad)) if os.path.isdir(ad) else []:
                if sd.startswith("seed-") and sd[5:].isdigit() and os.path.isdir(os.path.join(ad, sd)):  # not seed-2.log
                    r = load_run_or_skip(os.path.join(ad, sd), env, alg, int(sd[5:]), prog)
                    if r is not None:
                        out.append(r)
    return out


# The control arms of the campaign, as (label, arm directory under the controls root or None for the main grid, alg);
# ARM_STYLE gives each label (and each alg of the main grid) its colour and line style in the plots.
LITERAL = "meta, the paper's literal form"
STUDENT, STUDENT_FROZEN = "meta, teacher starts from the student's states", "meta, student's states, frozen teacher"
RESET = "meta, reset starts (the study's commit)"
CONTROL_ARMS = (("meta", None, "meta"), ("ddpg", None, "ddpg"),
                ("meta, frozen teacher", "frozen", "meta"),
                ("ddpg, meta's update ratio 0.20", "ddpg-ratio0.2", "ddpg"),
                ("ddpg, no exploration noise", "ddpg-nonoise", "ddpg"),
                ("meta, truncation as terminal", "truncation", "meta"),
                ("ddpg, truncation as terminal", "truncation", "ddpg"),
                (LITERAL, "literal", "meta"),
                (STUDENT, "student-start", "meta"),
                (STUDENT_FROZEN, "student-start-frozen", "meta"),
                (RESET, "reset-start", "meta"))
ARM_STYLE = {"meta": ("tab:red", "-"), "meta-variance": ("tab:orange", "-"), "ddpg": ("tab:blue", "-"),
             "meta, frozen teacher": ("tab:purple", "-"), "ddpg, meta's update ratio 0.20": ("tab:green", "-"),
             "ddpg, no exploration noise": ("tab:gray", "-"), "meta, truncation as terminal": ("tab:red", "--"),
             "ddpg, truncation as terminal": ("tab:blue", "--"), "meta, the paper's literal form": ("tab:brown", "-"),
             "meta, teacher starts from the student's states": ("tab:olive", "-"),
             "meta, student's states, frozen teacher": ("tab:olive", "--"),
             "meta, reset starts (the study's commit)": ("tab:pink", "-")}


def progress_mean(r: Run, key: str, last_epochs: Optional[int] = None) -> float:
    """The mean of a progress.csv column over the run's epochs (or its last `last_epochs`), NaN where absent."""
    path = os.path.join(r.dir, "progress.csv")
    if not os.path.exists(path):
        return float("nan")
    with open(path) as f:
        vals = [float(row[key]) for row in csv.DictReader(f) if row.get(key) not in (None, "", "nan")]
    vals = vals[-last_epochs:] if last_epochs else vals
    return float(np.mean(vals)) if vals else float("nan")


def progress_rows(d: str) -> list[dict]:
    """A run directory's progress.csv rows, one dict of strings an epoch ([] without the file)."""
    path = os.path.join(d, "progress.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def progress_column(d: str, key: str) -> list[float]:
    """The finite values of a run directory's progress.csv column, epoch by epoch ([] when it logs none)."""
    return [v for v in (float(r.get(key) or "nan") for r in progress_rows(d)) if math.isfinite(v)]


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p of Fisher's exact test on the table [[a, b], [c, d]] (the tables as probable as or less probable
    than the observed one, with the margins fixed)."""
    n1, n2, k = a + b, c + d, a + c
    def prob(x: int) -> float:
        return math.comb(n1, x) * math.comb(n2, k - x) / math.comb(n1 + n2, k)
    observed = prob(a)
    lo, hi = max(0, k - n2), min(k, n1)
    return min(1.0, sum(p for p in (prob(x) for x in range(lo, hi + 1)) if p <= observed * (1 + 1e-9)))


def control_arm_runs(main_root: str, controls_root: str, prog: str = "baselines_meta") -> dict[str, list[Run]]:
    """Each control arm's runs (main-grid meta and ddpg from main_root, the others from controls_root/<arm>), keyed by
    the arm's label, with the label as each run's alg (prog: load_runs')."""
    out = {}
    for label, sub, alg in CONTROL_ARMS:
        rs = load_runs(main_root if sub is None else os.path.join(controls_root, sub), prog)
        out[label] = [r._replace(alg=label) for r in rs if r.alg == alg]
    return out


def common_curve(runs: list[Run]) -> tuple[np.ndarray, np.ndarray]:
    """Seeds' curves on a common step grid (the first run's evaluation steps up to the shortest run),
    interpolated where a seed evaluated at other steps. Returns steps [E] and returns [S, E]."""
    end = min(r.steps[-1] for r in runs)
    grid = runs[0].steps[runs[0].steps <= end]
    return grid, np.stack([np.interp(grid, r.steps, r.returns) for r in runs])


def bootstrap_ci(x: np.ndarray, rng: np.random.Generator, n: int = 2000, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of the mean over seeds (axis 0), per column."""
    s = x.shape[0]
    idx = rng.integers(0, s, size=(n, s))
    means = x[idx].mean(axis=1)  # [n, E]
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return np.quantile(means, lo, axis=0), np.quantile(means, hi, axis=0)


def final_score(r: Run, frac: float = 0.1) -> float:
    """Mean evaluation return over the last `frac` of training (evaluations at steps >= (1 - frac) * last)."""
    m = r.steps >= (1 - frac) * r.steps[-1]
    return float(r.returns[m].mean())


def prob_better(a: list[float], b: list[float]) -> float:
    """P(X > Y) for X from a's seeds and Y from b's seeds, every pair once, ties count half."""
    if not a or not b:
        return float("nan")
    wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    return wins / (len(a) * len(b))


def monitor_returns(d: str, name: str = "0.monitor.csv") -> np.ndarray:
    """Episode returns of a monitor file (baselines format: a JSON header line, then r,l,t), [] when absent."""
    path = os.path.join(d, name)
    if not os.path.exists(path):
        return np.zeros(0)
    with open(path) as f:
        lines = [l for l in f if not l.startswith("#")]
    return np.array([float(r["r"]) for r in csv.DictReader(lines)])


def training_score(r: Run, name: str = "0.monitor.csv", last: int = 100) -> float:
    """Baselines' rollout/return_history at the end of training: the mean return of the last `last` training
    episodes of the exploring policy (ddpg: the noisy actor; meta: the teacher's D0, or D1 with name=0.d1.monitor.csv).
    Rank 0's episodes: exact for one worker (baselines averages the ranks' histories); NaN without episodes."""
    x = monitor_returns(r.dir, name)
    return float(x[-last:].mean()) if x.size else float("nan")


def bootstrap_mean_ci(x, rng: np.random.Generator, n: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of the values x (e.g. one score per seed)."""
    lo, hi = bootstrap_ci(np.asarray(x, np.float64)[:, None], rng, n, level)
    return float(lo[0]), float(hi[0])


def first_reach(steps: np.ndarray, curve: np.ndarray, target: float) -> Optional[int]:
    """The first step at which `curve` reaches `target`, or None."""
    hit = np.nonzero(curve >= target)[0]
    return int(steps[hit[0]]) if hit.size else None


def verdict(a: list[float], b: list[float], rng: np.random.Generator) -> str:
    """'better' / 'worse' when the bootstrap 95% CI of mean(a) - mean(b) (seeds resampled within each arm) excludes
    0, else 'not distinguishable'; 'too few seeds' below 2 seeds an arm."""
    if not a or not b:
        return "–"
    if min(len(a), len(b)) < 2:
        return "too few seeds"
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = 4000
    d = a[rng.integers(0, len(a), (n, len(a)))].mean(1) - b[rng.integers(0, len(b), (n, len(b)))].mean(1)
    lo, hi = np.quantile(d, [0.025, 0.975])
    return "better" if lo > 0 else "worse" if hi < 0 else "not distinguishable"


class ReportError(SystemExit):
    """A report's one-line error, already printed on stderr: exit status 2; str() is the line."""

    def __init__(self, line: str):
        super().__init__(2)
        self.line = line

    def __str__(self) -> str:
        return self.line


def markdown_parser(prog: str, doc: str, default_root: str, add_args=None):
    """The parser of a markdown report: ROOT (default `default_root`, read only), --out (none by default: the report
    is printed; a path names the file to write) and the report's own flags (add_args)."""
    from baselines_meta.analysis.cli import ToolParser

    p = ToolParser(prog=prog, description=doc.split("\n")[0])
    p.add_argument("root", nargs="?", default=default_root, help="the run directories to read (never written)")
    p.add_argument("--out", default=None, help="also write the markdown to this file (replaced whole; its folder is "
                                               "made when missing)")
    if add_args is not None:
        add_args(p)
    return p


def markdown_main(prog: str, doc: str, default_root: str, build, argv=None, add_args=None) -> int:
    """The CLI of a markdown report over run directories: print build(root) (build(root, args) with add_args, which
    adds the report's own flags to the parser), and write it to --out when given. A missing ROOT, an --out that
    cannot be written and a report's own error (SystemExit with a message) are one line on stderr and exit 2."""
    from baselines_meta.analysis.cli import file_error, tool_name, write_text

    a = markdown_parser(prog, doc, default_root, add_args).parse_args(argv)
    tool = tool_name(prog)
    err = None if os.path.isdir(a.root) else f"no such directory: {a.root}"
    err = err or (file_error(a.out) if a.out else None)
    if err is None:
        try:
            md = build(a.root, a) if add_args is not None else build(a.root)
        except SystemExit as e:
            if not isinstance(e.code, str):
                raise
            err = e.code.split(": error: ", 1)[-1]
    if err is not None:
        line = f"{tool}: error: {err}"
        print(line, file=sys.stderr)
        raise ReportError(line)
    print(md)
    if a.out:
        try:
            write_text(a.out, md)
        except OSError as e:
            print(f"{tool}: error: cannot write {a.out}: {e.strerror or e}", file=sys.stderr)
            return 2
    return 0
