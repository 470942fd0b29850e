"""The layering rules of the project: the math core imports NumPy only, imports point down."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "deltaprop"
CORE = ["activations", "costs", "errors", "filerows", "gradcheck", "initializers", "layers", "network",
        "optim", "callbacks", "per_example", "propagation", "training", "validation"]
FORBIDDEN_IN_CORE = {"sklearn", "matplotlib", "tqdm", "onnx", "torch", "scipy", "deltaprop.cli",
                     "deltaprop.plots", "deltaprop.data", "deltaprop.autodiff", "deltaprop.progress"}


def imported_modules(path):
    """Every module a file imports, relative imports resolved against the deltaprop package."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "deltaprop." * (node.level > 0) + (node.module or "")
            names.add(base.rstrip("."))
            names.update(f"{base}.{alias.name}".replace("..", ".") for alias in node.names if node.level)
    return names


@pytest.mark.parametrize("module", CORE)
def test_core_modules_import_nothing_heavy_and_nothing_above_them(module):
    imports = imported_modules(PACKAGE / f"{module}.py")
    for name in imports:
        assert not any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_IN_CORE), f"{module} imports {name}"


def test_importing_deltaprop_loads_only_numpy():
    code = "import sys, deltaprop; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert not loaded & {"sklearn", "matplotlib", "tqdm", "onnx", "torch", "scipy", "safetensors"}
