"""The layering of the package, read from every import statement, top level and inside functions.

Oracle: the import statements themselves (parsed with :mod:`ast`, relative imports resolved), checked
against the rules the README states:

    errors, atomic          the foundation: the standard library only (atomic may use errors)
    core/                   the math: NumPy and errors only
    train/                  core
    files/                  core, atomic, and train.checkpoint (the types a checkpoint file holds)
    data/                   core, atomic: nothing of train, files or cli
    autodiff/               core only
    bridges                 sklearn, state_dict, onnx_export, compat/, draw, explore/, mpi: anything but cli
    cli/                    anything; nothing imports cli

The only imports that point up are the convenience methods of ``Network`` listed in
``UPWARD_EXCEPTIONS``; every one of them is named here.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "deltaprop"
THIRD_PARTY_IN_CORE = {"numpy"}
HEAVY = {"sklearn", "matplotlib", "tqdm", "onnx", "onnxruntime", "torch", "scipy", "safetensors", "mpi4py", "selenium"}

ALLOWED = {
    "foundation": {"foundation"},
    "core": {"foundation", "core"},
    "train": {"foundation", "core", "train"},
    "files": {"foundation", "core", "files", "train.checkpoint"},
    "data": {"foundation", "core", "data"},
    "autodiff": {"foundation", "core", "autodiff"},
    "bridges": {"foundation", "core", "train", "files", "data", "autodiff", "bridges"},
    "cli": {"foundation", "core", "train", "files", "data", "autodiff", "bridges", "cli"},
    "top": {"foundation", "core", "train", "files", "data", "autodiff", "bridges", "cli"},
}

# (module, function) -> the modules it may import although they sit above it.
UPWARD_EXCEPTIONS = {
    ("deltaprop.core.network", "fit"): {"deltaprop.train.loop", "deltaprop.files.checkpoint"},
    ("deltaprop.core.network", "save"): {"deltaprop.files.model"},
    ("deltaprop.core.network", "state_dict"): {"deltaprop.state_dict"},
    ("deltaprop.core.network", "load_state_dict"): {"deltaprop.state_dict"},
    ("deltaprop.core.network", "from_state_dict"): {"deltaprop.state_dict"},
    ("deltaprop.core.network", "to_onnx"): {"deltaprop.onnx_export"},
    ("deltaprop.core.network", "draw"): {"deltaprop.draw"},
    ("deltaprop.core.network", "_repr_svg_"): {"deltaprop.draw"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if module == "deltaprop":
        return "top"
    second = parts[1]
    if second in ("errors", "atomic"):
        return "foundation"
    if second in ("core", "train", "files", "data", "autodiff", "cli"):
        return second
    if second in ("sklearn", "state_dict", "onnx_export", "compat", "draw", "explore", "mpi"):
        return "bridges"
    if second == "__main__":
        return "cli"
    raise AssertionError(f"{module} is in no layer: add it to the layering rules")


def imports_of(path: Path):
    """``(imported module, enclosing function or None)`` for every import in the file."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and function is None \
                else function
            if isinstance(child, ast.Import):
                found.extend((alias.name, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module
                found.append((module, function))
                # `from . import x` imports the submodule x
                found.extend((f"{module}.{alias.name}", function) for alias in child.names
                             if (PACKAGE.parent / Path(*f"{module}.{alias.name}".split("."))).with_suffix(".py").exists()
                             or (PACKAGE.parent / Path(*f"{module}.{alias.name}".split("."))).is_dir())
            visit(child, inner)

    visit(ast.parse(path.read_text()), None)
    return found


def own_part(module: str) -> str | None:
    """The layer key of a deltaprop module, with train.checkpoint told apart (files may use it)."""
    if module == "deltaprop.train.checkpoint":
        return "train.checkpoint"
    return layer_of(module)


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_every_import_points_down(path):
    me = module_name(path)
    layer = layer_of(me)
    for module, function in imports_of(path):
        top = module.split(".")[0]
        if top != "deltaprop":
            if layer in ("core", "foundation"):
                assert top not in HEAVY and (top in THIRD_PARTY_IN_CORE or top in sys.stdlib_module_names), \
                    f"{me} imports {module}: the {layer} imports NumPy and the standard library only"
            elif layer in ("train", "files", "autodiff"):
                assert top not in HEAVY, f"{me} imports {module}, a heavy optional package, below the bridges"
            continue
        if module == "deltaprop":
            assert layer in ("cli", "bridges", "top"), f"{me} imports the package root"
            continue
        if (me, function) in UPWARD_EXCEPTIONS and module in UPWARD_EXCEPTIONS[(me, function)]:
            continue
        target = own_part(module)
        assert target != "cli" or layer == "cli", f"{me} imports {module}: nothing imports the command line"
        allowed = ALLOWED[layer] | ({"train.checkpoint"} if "train" in ALLOWED[layer] else set())
        assert target in allowed or (target == "train.checkpoint" and "train" in allowed), \
            f"{me} ({layer}) imports {module} ({target}){f' in {function}()' if function else ''}: imports point down"


def test_no_import_circle_between_modules():
    graph = {}
    for path in MODULES:
        me = module_name(path)
        edges = set()
        for module, function in imports_of(path):
            if not module.startswith("deltaprop.") or (me, function) in UPWARD_EXCEPTIONS:
                continue
            # a package import means its __init__; keep only modules that exist
            edges.add(module)
        graph[me] = (edges & {module_name(p) for p in MODULES}) - {me}  # `from . import x` names the package itself
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules (an __init__ re-exporting them)
            if state.get(nxt) == "open":
                cycle = trail[trail.index(nxt):] + [nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_upward_exceptions_are_all_in_use():
    used = {(module_name(p), f) for p in MODULES for _, f in imports_of(p)}
    assert set(UPWARD_EXCEPTIONS) <= used, set(UPWARD_EXCEPTIONS) - used


def test_importing_deltaprop_loads_only_numpy():
    code = "import sys, deltaprop; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert not loaded & HEAVY
