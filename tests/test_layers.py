"""The package's layers, as docs/architecture.md lists them: every import (module-level, function-level and
type-checking ones) points to the same layer or one below; analysis imports no training code; no class over 150
lines, no module over 400."""
import ast
import os

import pytest
from conftest import ROOT

PKG = os.path.join(ROOT, "baselines_meta")

# Lowest first. A module may import its own layer and the layers below it, nothing above.
LAYERS = (
    ("base", {"config", "paper", "resolve"}),
    ("common", {"common"}),
    ("storage", {"storage"}),
    ("runtime", {"runtime"}),
    ("ddpg", {"ddpg"}),
    ("meta", {"meta"}),
    ("api", {"api", "flags", "run", "__init__", "__main__"}),
    ("experiments", {"experiments", "bench", "compare"}),
)
# analysis reads run directories: it imports the base layer and itself only (and the one episode loop, for the
# random-policy return of the aggregate)
ANALYSIS = {"analysis", "table", "plot"}
# `python -m baselines_meta.<name>` entry points kept where users type them: each imports its module's main only
ENTRY_ALIASES = {"table": "analysis", "plot": "analysis", "bench": "experiments", "compare": "experiments"}


def layer_of(module: str) -> str:
    """'baselines_meta.runtime.loop' -> 'runtime'."""
    head = module.split(".")[1] if "." in module else "__init__"
    if head in ANALYSIS:
        return "analysis"
    for name, heads in LAYERS:
        if head in heads:
            return name
    raise AssertionError(f"{module} is in no layer: add it to docs/architecture.md and to LAYERS")


def rank(layer: str) -> int:
    return [n for n, _ in LAYERS].index(layer)


def imports_of(source: str, module: str) -> list[str]:
    """Every baselines_meta module `source` imports, wherever the import stands (functions, TYPE_CHECKING blocks)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:  # relative: resolve against the module's package
            base = module.split(".")[: -node.level] if not module.endswith("__init__") else module.split(".")[: -node.level + 1]
            name = ".".join(base + ([node.module] if node.module else []))
            out += [name] if node.module else [f"{name}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("baselines_meta"):
            if node.module == "baselines_meta":
                out += [f"baselines_meta.{a.name}" for a in node.names]
            else:
                out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("baselines_meta")]
    return out


def violations(module: str, source: str) -> list[str]:
    """The imports of `module` (with this source) that break the layer order."""
    mine = layer_of(module)
    bad = []
    for target in imports_of(source, module):
        theirs = layer_of(target)
        alias = module.split(".")[-1] in ENTRY_ALIASES and len(module.split(".")) == 2
        if alias and theirs == ENTRY_ALIASES[module.split(".")[-1]]:
            continue
        if mine == "analysis":
            if theirs not in ("analysis", "base") and target != "baselines_meta.common.episodes":
                bad.append(f"{module} -> {target} (analysis imports no training code)")
        elif theirs == "analysis":
            if mine not in ("experiments",):
                bad.append(f"{module} -> {target} (only analysis and the experiments read results)")
        elif rank(theirs) > rank(mine):
            bad.append(f"{module} ({mine}) -> {target} ({theirs}): an upward import")
    return bad


def modules():
    for dp, _, files in os.walk(PKG):
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(dp, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                yield rel, path


def test_every_import_points_down_the_layers():
    bad = []
    for module, path in modules():
        bad += violations(module, open(path).read())
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module,source", [
    ("baselines_meta.common.replay", "from baselines_meta.runtime.loop import LoopState"),
    ("baselines_meta.ddpg.learner", "def f():\n    from baselines_meta.meta.teacher import TeacherLearner"),
    ("baselines_meta.runtime.loop", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from baselines_meta.api import train"),
    ("baselines_meta.meta.learn", "from baselines_meta import run"),
    ("baselines_meta.analysis.table", "from baselines_meta.runtime.envs import make_env"),
    ("baselines_meta.storage.checkpoint", "from ..runtime import loop"),
])
def test_a_planted_upward_import_fails(module, source):
    assert violations(module, source), (module, source)


def test_downward_imports_pass():
    assert not violations("baselines_meta.meta.learn", "from baselines_meta.ddpg.learner import DDPGLearner\n"
                                                       "from baselines_meta.common import mpi")
    assert not violations("baselines_meta.analysis.plot", "from baselines_meta import paper")


def _spans(path):
    tree = ast.parse(open(path).read())
    return [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]


def test_no_class_over_150_lines_no_module_over_400():
    too_long = []
    for module, path in modules():
        n = sum(1 for _ in open(path))
        if n > 400:
            too_long.append(f"{module}: {n} lines")
        too_long += [f"{module}.{name}: {k} lines" for name, k in _spans(path) if k > 150]
    assert not too_long, too_long
