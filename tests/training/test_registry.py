"""The part registry (polymodal.core.registry): the static table of built-in
parts equals what the @register decorators declare, names are per kind, and a
part's module is imported only when the part is used."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import polymodal
from polymodal.core import registry
from polymodal.errors import ConfigError

SRC = Path(polymodal.__file__).parent


def _declared() -> dict[str, dict[str, str]]:
    """(kind -> name -> "module:Class") from every @register(kind, name) in the source."""
    found: dict[str, dict[str, str]] = {kind: {} for kind in registry.KINDS}
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(("polymodal", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "register":
                    kind, name = (arg.value for arg in deco.args)
                    assert name not in found[kind], f"{kind} {name!r} registered twice"
                    found[kind][name] = f"{module}:{node.name}"
    return found


def test_static_table_equals_the_decorators():
    assert registry.BUILTIN_PARTS == _declared(), (
        "update BUILTIN_PARTS in polymodal/core/registry.py to:\n" + repr(_declared()))


def test_registration_is_only_spelled_as_a_class_decorator():
    calls = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Call)
                    and getattr(node.func.func, "id", None) == "register"):
                calls.append(f"{path.name}:{node.lineno}")
    assert not calls, f"register(kind, name)(cls) calls; decorate the class instead: {calls}"


def test_every_table_entry_resolves_to_the_class_its_module_registers():
    for kind, names in registry.BUILTIN_PARTS.items():
        for name, path in names.items():
            cls = registry.resolve(kind, name)
            assert f"{cls.__module__}:{cls.__qualname__}" == path
            assert registry._REGISTRY[kind][name] is cls


def test_names_are_per_kind():
    encoder = registry.build("encoder", {"name": "mlp", "hidden": [4]}, in_features=3)
    fusion = registry.build("fusion", {"name": "mlp"}, in_features={"a": 3, "b": 2})
    assert type(encoder).__name__ == "MLP" and type(fusion).__name__ == "MLPFusion"
    with pytest.raises(ConfigError, match=r"unknown head 'concat'; registered: \['mlp'\]"):
        registry.build("head", {"name": "concat"}, where="model.head")


def test_a_builtin_name_cannot_be_taken_by_another_class():
    with pytest.raises(ValueError, match="built-in registered to 'polymodal.encoders.mlp:MLP'"):
        @registry.register("encoder", "mlp")
        class MLP:  # noqa: F811
            pass


def test_building_one_part_imports_only_its_module():
    code = ("import sys; from polymodal.core.registry import build; "
            "build('fusion', {'name': 'tensor'}, in_features={'a': 2, 'b': 3}); "
            "bad = [m for m in ('polymodal.fusion', 'polymodal.encoders', 'polymodal.alignment', 'numba', "
            "'lightning') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
