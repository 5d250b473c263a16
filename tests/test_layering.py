"""The package layering stated in the README ("Layout") holds in the code:
imports flow downward only, function-level (lazy) imports included.

A package may import its own layer (sideways: CTW in ``alignment`` uses
``representation.CCA``) and every layer below it; never one above.
"""

import ast
import re
from pathlib import Path

import polymodal

ROOT = Path(polymodal.__file__).parent

# lowest first; the README's Layout section states the same order
LAYERS: list[set[str]] = [
    {"core", "errors", "jsonio", "_cli", "_logging"},
    {"data", "metrics"},
    {"training"},
    {"encoders", "representation", "alignment"},
    {"fusion", "translation", "colearning"},
    {"benchmarks", "export"},
    {"commands", "cli", "__main__", "__init__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _unit(path: Path) -> str:
    """The package (first folder) or top-level module a source file belongs to."""
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "polymodal" and len(parts) > 1 and parts[1] in RANK:
                yield parts[1], node.lineno
                break


def test_every_package_and_top_level_module_has_a_layer():
    units = {_unit(p) for p in ROOT.rglob("*.py")}
    assert units <= set(RANK), f"not in LAYERS: {sorted(units - set(RANK))}"


def test_imports_flow_downward_only():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        src = _unit(path)
        for target, line in _imports(path):
            if RANK[target] > RANK[src]:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({src}) imports polymodal.{target}")
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_the_readme_states_the_same_order():
    """The README's line ``commands -> {...} -> ... -> core`` names the packages of LAYERS, top first."""
    readme = " ".join((ROOT.parents[1] / "README.md").read_text(encoding="utf-8").split())
    line = re.search(r"Imports flow downward: (commands( -> (\{[a-z, ]+\}|[a-z]+))+)", readme)
    assert line, "the README's Layout section states the import order"
    stated = [set(step.strip("{}").split(", ")) for step in line.group(1).split(" -> ")]
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    layers = list(reversed(LAYERS))
    assert len(stated) == len(layers)
    for names, layer in zip(stated, layers):
        assert layer & packages <= names <= layer, (names, layer)
