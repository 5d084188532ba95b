"""The README and the manual in docs/ say what the code does: every relative link resolves, every --flag is a flag of
the command it stands with (in prose: of `python -m baselines_meta.run`), every `python -m baselines_meta.<tool>` and
`run/<script>` named exists, docs/outputs.md lists exactly the progress.csv columns that short runs write, and the
README stays one screen in the order the project chose."""
from __future__ import annotations

import argparse
import glob
import importlib
import importlib.util
import json
import os
import re
import subprocess
from typing import NamedTuple, Optional

import pytest
from conftest import PY, ROOT

README = os.path.join(ROOT, "README.md")
DOCS = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
PAGES = [README] + DOCS

FENCE = re.compile(r"^```.*?$(.*?)^```\s*$", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
# a tool on a line: `python -m baselines_meta[.x]` or a script `run/<name>` (not a path such as results/run/x or a
# file such as run/constraints.txt)
TOOL = re.compile(r"python -m (baselines_meta(?:\.\w+)*)|(?<![\w/.-])(run/[\w-]+)(?![\w/-]|\.\w)")
# run/ scripts whose arguments go to a tool (the others take none that a doc may show)
SCRIPT_TOOL = {"run/train": "baselines_meta.run", "run/compare": "baselines_meta.compare",
               "run/reproduce_table2": "baselines_meta.compare"}


class Page(NamedTuple):
    """A markdown page split into the lines of its fenced code blocks and its prose (code blocks removed)."""
    name: str
    code_lines: list[str]
    prose: str


def read_page(path: str) -> Page:
    text = open(path).read()
    code = []
    for block in FENCE.findall(text):
        code += block.replace("\\\n", " ").splitlines()  # a continued shell line is one command
    return Page(os.path.relpath(path, ROOT), code, FENCE.sub("", text))


def test_the_manual_exists():
    names = {os.path.basename(p) for p in DOCS}
    assert {"running.md", "outputs.md", "algorithms.md", "checkpoints.md", "mpi.md", "reproducing.md", "benchmarks.md",
            "architecture.md"} <= names, names


# ---------------------------------------------------------------------------------------------------- links


def heading_slugs(path: str) -> set[str]:
    """GitHub's anchors of a markdown file's headings."""
    out = set()
    for line in open(path):
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return out


@pytest.mark.parametrize("path", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_resolves(path):
    bad = []
    for target in LINK.findall(read_page(path).prose):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not os.path.exists(full):
            bad.append(f"{target}: no such file")
        elif anchor and full.endswith(".md") and anchor not in heading_slugs(full):
            bad.append(f"{target}: no heading #{anchor}")
    assert not bad, bad


# ---------------------------------------------------------------------------------------------------- flags and tools


class _Parsed(Exception):
    pass


def parser_of(module: str) -> argparse.ArgumentParser:
    """The argument parser `python -m <module>` uses: its main([]) is called in this process and stopped at its
    first parse (no run starts, no process is spawned)."""
    mod = importlib.import_module(module)
    original = argparse.ArgumentParser.parse_known_args

    def stop(self, *args, **kwargs):
        raise _Parsed(self)

    argparse.ArgumentParser.parse_known_args = stop
    try:
        mod.main([])
    except _Parsed as got:
        return got.args[0]
    finally:
        argparse.ArgumentParser.parse_known_args = original
    raise AssertionError(f"{module}.main([]) parsed no arguments")


_FLAGS: dict[str, set[str]] = {}


def flags_of(tool: str) -> set[str]:
    """Every option string the tool accepts ('' tools take none)."""
    if tool not in _FLAGS:
        _FLAGS[tool] = {o for a in parser_of(tool)._actions for o in a.option_strings} if tool else set()
    return _FLAGS[tool]


def tool_of(match: re.Match) -> str:
    """The module whose parser a matched invocation's flags go to ('' when the script takes no flags)."""
    if match.group(1):
        return "baselines_meta.run" if match.group(1) == "baselines_meta" else match.group(1)
    return SCRIPT_TOOL.get(match.group(2), "")


def check_command(text: str, where: str, default: Optional[str]) -> list[str]:
    """The wrong flags of one command line: each flag after a tool is that tool's, after a bare `--` (compare's run
    flags) the run's; a flag before any tool is the default tool's (None: not checked, e.g. mpirun's own)."""
    bad = []
    cuts = [(m.start(), tool_of(m)) for m in TOOL.finditer(text)]
    if not cuts:
        cuts = [(0, default)]
    elif default is not None and cuts[0][0] > 0:
        cuts.insert(0, (0, default))
    for i, (start, tool) in enumerate(cuts):
        end = cuts[i + 1][0] if i + 1 < len(cuts) else len(text)
        part = text[start:end]
        if tool is None:
            continue
        head, sep, tail = part.partition(" -- ")
        for segment, owner in ((head, tool), (tail, "baselines_meta.run" if sep else tool)):
            bad += [f"{where}: {f} is not a flag of {owner or text.split()[0]}: {text.strip()}"
                    for f in FLAG.findall(segment) if f not in flags_of(owner)]
    return bad


@pytest.mark.parametrize("path", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_flag_belongs_to_its_command(path):
    page = read_page(path)
    bad = []
    for line in page.code_lines:
        bad += check_command(line, f"{page.name} (code)", None)
    for span in SPAN.findall(page.prose):
        bad += check_command(span, f"{page.name} (`{span}`)", "baselines_meta.run")
    bad += check_command(SPAN.sub(" ", page.prose), f"{page.name} (prose)", "baselines_meta.run")
    assert not bad, "\n".join(bad)


def test_the_checker_catches_a_wrong_flag():
    assert check_command("python -m baselines_meta.plot results/runs --figure1", "t", None) == []
    assert check_command("python -m baselines_meta.plot results/runs --num_timesteps 5", "t", None)
    assert check_command("python -m baselines_meta.compare --seeds 0 -- --noise_type ou_0.2", "t", None) == []
    assert check_command("python -m baselines_meta.compare --seeds 0 -- --figure1", "t", None)
    assert check_command("set --figure1 here", "t", "baselines_meta.run")
    assert check_command("mpirun --hostfile h -np 2 python -m baselines_meta.run --env Hopper-v4", "t", None) == []


def runnable(module: str) -> bool:
    """Whether `python -m module` runs something: a package with __main__, or a module with a __main__ block."""
    try:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations is not None:
            return importlib.util.find_spec(module + ".__main__") is not None
    except ModuleNotFoundError:
        return False
    return spec is not None and bool(spec.origin) and '__name__ == "__main__"' in open(spec.origin).read()


@pytest.mark.parametrize("path", PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_tool_named_exists(path):
    page = read_page(path)
    bad = []
    for m in TOOL.finditer("\n".join(page.code_lines) + "\n" + page.prose):
        if m.group(1):
            if not runnable(m.group(1)):
                bad.append(f"python -m {m.group(1)}: no such runnable module")
        elif not os.access(os.path.join(ROOT, m.group(2)), os.X_OK):
            bad.append(f"{m.group(2)}: no such script")
    assert not bad, bad


# ---------------------------------------------------------------------------------------------------- the outputs page

KEY_RUNS = """
import csv, json, sys
import baselines_meta
short = dict(num_timesteps=1000, nb_epoch_cycles=2, nb_train_steps=5, eval_interval=1000, eval_episodes=1,
             log_formats="csv")
runs = {"ddpg": dict(alg="ddpg", env="Pendulum-v1"), "meta": dict(alg="meta", env="Pendulum-v1"),
        "other": dict(alg="ddpg", env="SparseMountainCar-v0", normalize_returns=True)}
keys = {}
for name, kw in runs.items():
    baselines_meta.train(**kw, **short, log_path=name)
    keys[name] = sorted(next(csv.DictReader(open(name + "/progress.csv"))))
print(json.dumps(keys))
"""


@pytest.fixture(scope="session")
def written_keys(tmp_path_factory) -> dict[str, set[str]]:
    """The progress.csv columns of a short ddpg run, a short meta run (Pendulum-v1) and a short ddpg run on a
    hard-exploration task with --normalize_returns, from one process (about 15 s)."""
    d = tmp_path_factory.mktemp("keys")
    r = subprocess.run([PY, "-c", KEY_RUNS], cwd=d, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stderr[-3000:]
    return {k: set(v) for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}


def documented_keys(section: str) -> dict[str, str]:
    """key -> second column of the table under the outputs page's `## <section>` heading."""
    text = open(os.path.join(ROOT, "docs", "outputs.md")).read()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in body.splitlines() if line.startswith("| `")]
    return {cells[1].strip().strip("`"): cells[2].strip() for cells in rows}


@pytest.mark.slow
def test_outputs_page_lists_exactly_the_keys_runs_write(written_keys):
    doc = documented_keys("The keys of progress.csv")
    assert set(doc.values()) <= {"both", "ddpg", "meta"}, set(doc.values())
    for alg in ("ddpg", "meta"):
        want = {k for k, runs in doc.items() if runs in ("both", alg)}
        got = written_keys[alg]
        assert got == want, f"{alg}: undocumented {sorted(got - want)}, documented but not written {sorted(want - got)}"
    other = set(documented_keys("Keys only under other settings"))
    extra = written_keys["other"] - written_keys["ddpg"]
    assert extra == other, f"undocumented {sorted(extra - other)}, documented but not written {sorted(other - extra)}"


# ---------------------------------------------------------------------------------------------------- the README

SECTIONS = ["What we found", "Two commands", "The paper's experiment", "From Python", "Where next"]


def readme_sections() -> dict[str, str]:
    text = open(README).read()
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_readme_is_one_screen_in_the_chosen_order():
    text = open(README).read()
    assert len(text.splitlines()) <= 150 and len(text.split()) <= 1500, (len(text.splitlines()), len(text.split()))
    assert list(readme_sections()) == SECTIONS


def test_readme_answer_has_a_figure_and_at_most_six_bullets_with_evidence():
    answer = readme_sections()["What we found"]
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", answer)
    assert len(figures) == 1 and figures[0].startswith("results/"), figures
    assert "python -m baselines_meta.plot" in answer  # the command that regenerates it
    bullets = re.findall(r"^- (.*?)(?=^- |\Z)", answer, flags=re.M | re.S)
    assert 1 <= len(bullets) <= 6, len(bullets)
    for b in bullets:
        assert re.search(r"\]\(results/", b), f"a bullet without its evidence in results/: {b[:80]}"


def test_where_next_has_one_row_per_docs_page():
    rows = re.findall(r"^\| \[([^\]]+)\]\(([^)]+)\)", readme_sections()["Where next"], flags=re.M)
    linked = [target for _, target in rows]
    assert sorted(linked) == sorted(os.path.relpath(p, ROOT) for p in DOCS), linked


def test_ci_runs_run_test_as_the_readme_writes_it():
    block = FENCE.findall(readme_sections()["Two commands"])[0]
    commands = [line.split("#")[0].split() for line in block.splitlines() if line.strip()]
    assert ["run/train"] in commands and ["run/test"] in commands, commands
    ci = [line.split() for line in open(os.path.join(ROOT, ".ci", "run")) if "run/test" in line and not line.startswith("#")]
    assert ci and all(words[-1] == "run/test" for words in ci), ci  # no arguments: the default suite, as written


def test_readme_keeps_the_api_example():
    assert "<!-- api-example -->" in readme_sections()["From Python"]
