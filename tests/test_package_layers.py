"""Package layering (issue 19): `evaluation` imports nothing from `recommend`, and `recommend` reaches
`evaluation` only through its one door (`evaluate`, the `Predictions` it takes, the `Evaluation` it returns).
Every import counts, module-level or inside a function."""

import ast
from pathlib import Path

import intertask

PACKAGE = Path(intertask.__file__).parent
DOOR = {"evaluate", "Evaluation", "Predictions"}


def imports(package: str):
    """`(module file, imported module, imported name or None)` for every import in `package`'s files."""
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    yield path.name, node.module, alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield path.name, alias.name, None


def test_imports_are_collected():
    assert ("add_combination.py", "intertask.evaluation", "evaluate") in set(imports("recommend"))


def test_evaluation_imports_nothing_from_recommend():
    upward = [(f, m) for f, m, _ in imports("evaluation") if m.startswith("intertask.recommend")]
    assert upward == []


def test_recommend_reaches_evaluation_only_through_the_door():
    through_walls = [(f, m, n) for f, m, n in imports("recommend")
                     if m.startswith("intertask.evaluation") and (m != "intertask.evaluation" or n not in DOOR)]
    assert through_walls == []
