"""Every code block of the guide (``docs/*.md``) runs here, and prints exactly what the guide shows.

Oracle: the guide itself -- the output written under each block was produced by deltaprop and is
compared with what deltaprop prints now, so a guide that drifts from the code fails.

The rules, also stated for readers in ``docs/index.md`` ("How the examples are checked"):

- A ```` ```python ```` block runs; the blocks of a page run in order in one namespace, as the cells
  of a notebook do, with a fresh temporary directory of the page as the working directory. What it
  prints must equal the ```` ```text ```` (or ```` ```output ````) block directly after it (only blank
  lines between), or be nothing when no such block follows.
- A ```` ```console ```` (or ```` ```bash ````) block holds commands: each line ``$ deltaprop ARGS``
  runs ``python -m deltaprop ARGS`` (shell-style quoting) in the same directory, with this process's
  environment and its ``deltaprop`` first on ``PYTHONPATH``; the lines under it, up to the next
  ``$`` line, are what it prints (standard output, then standard error). It must exit with status 0.
  ``$ deltaprop ARGS > FILE`` writes its standard output to FILE instead, and shows nothing.
- Normalisation, the only one: trailing whitespace of every line and trailing blank lines are
  ignored, and an expected line that is exactly ``...`` stands for any number of lines (zero or
  more), for long output shown in part.
- ```` ```{.python .no-run} ```` and ```` ```{.console .no-run} ```` (or ``.bash``) are shown, not run
  (a Python one must still parse). ```` ```{.python .needs-mnist} ```` runs alone, in a fresh
  namespace, only when the environment variable ``DELTAPROP_MNIST`` names a directory with the MNIST
  files; it is skipped otherwise. Any other fence is an error, so no block escapes this file.

``mkdocs build --strict`` builds the site into a temporary directory (skipped if mkdocs or
mkdocs-material is not installed), ``docs/make_figures.py`` redraws every figure into a temporary
directory, and no page links outside the repository.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # the blocks may draw; never open a window

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MNIST_VARIABLE = "DELTAPROP_MNIST"

FENCE = re.compile(r"^(?P<indent>\s*)```(?P<info>.*)$")
RUNNABLE = {"python", "console", "bash"}
OUTPUT = {"text", "output"}
MARKS = {"no-run", "needs-mnist"}


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    end: int  # 1-based line of the closing fence
    lang: str
    marks: set
    text: str
    expected: "Block | None" = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def _info(info: str, where: str) -> tuple[str, set]:
    """``python`` -> ("python", set()); ``{.python .no-run}`` -> ("python", {"no-run"})."""
    info = info.strip()
    if info.startswith("{") and info.endswith("}"):
        tokens = info[1:-1].split()
        if not tokens or not all(token.startswith(".") for token in tokens):
            raise AssertionError(f"{where}: fence {{{info}}}: write {{.LANG .MARK}}, e.g. {{.python .no-run}}")
        lang, marks = tokens[0][1:], {token[1:] for token in tokens[1:]}
    elif re.fullmatch(r"[\w-]+", info):
        lang, marks = info, set()
    else:
        raise AssertionError(f"{where}: fence ```{info}: a bare language (```python) or {{.python .no-run}}; "
                             "Python-Markdown does not read words after the language")
    if lang not in RUNNABLE | OUTPUT:
        raise AssertionError(f"{where}: fence language {lang!r}: the guide uses python, console, bash, text, output")
    if marks - MARKS or (marks and lang in OUTPUT) or ("needs-mnist" in marks and lang != "python"):
        raise AssertionError(f"{where}: marks {sorted(marks)} on {lang!r}: no-run (python, console, bash) or "
                             "needs-mnist (python)")
    return lang, marks


def parse_page(path: Path) -> list[Block]:
    """The fenced blocks of one page, each runnable block holding its output block in ``expected``."""
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        where = f"docs/{path.name}:{i + 1}"
        if match["indent"]:
            raise AssertionError(f"{where}: an indented fence; put code blocks at the start of the line")
        lang, marks = _info(match["info"], where)
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{where}: the fence is never closed")
        blocks.append(Block(path.name, i + 1, end + 1, lang, marks, "\n".join(lines[i + 1 : end]) + "\n"))
        i = end + 1
    paired = []
    for block in blocks:
        if block.lang in OUTPUT:
            previous = paired[-1] if paired else None
            between = lines[previous.end : block.line - 1] if previous else ["(start of page)"]
            if previous is None or previous.lang != "python" or previous.expected is not None or any(
                    line.strip() for line in between):
                raise AssertionError(f"{block.where}: an output block must directly follow the Python block it "
                                     "belongs to (only blank lines between)")
            previous.expected = block
        else:
            paired.append(block)
    return paired


ALL_BLOCKS = {path.name: parse_page(path) for path in PAGES}


def matches(expected: str, actual: str) -> bool:
    """Line by line after the normalisation; an expected line ``...`` matches zero or more lines."""
    want, got = _lines(expected), _lines(actual)
    memo = {}

    def match(i, j):
        if (i, j) not in memo:
            if i == len(want):
                memo[i, j] = j == len(got)
            elif want[i] == "...":
                memo[i, j] = match(i + 1, j) or (j < len(got) and match(i, j + 1))
            else:
                memo[i, j] = j < len(got) and want[i] == got[j] and match(i + 1, j + 1)
        return memo[i, j]

    return match(0, 0)


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def check_output(where: str, expected: str, actual: str) -> None:
    if not matches(expected, actual):
        diff = "\n".join(difflib.unified_diff(_lines(expected), _lines(actual), "shown in the guide", "printed now",
                                              lineterm=""))
        pytest.fail(f"{where}: the output differs from the guide\n{diff}", pytrace=False)


def run_python(block: Block, namespace: dict) -> None:
    code = compile(block.text, block.where, "exec")
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        exec(code, namespace)
    check_output(block.where, block.expected.text if block.expected else "", captured.getvalue())


def _environment() -> dict:
    import deltaprop

    env = dict(os.environ)
    source = str(Path(deltaprop.__file__).resolve().parents[1])  # the deltaprop this test imports
    env["PYTHONPATH"] = os.pathsep.join([source] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["MPLBACKEND"] = "Agg"
    env["COLUMNS"] = "80"  # argparse's line width, should a block show --help
    return env


def console_commands(block: Block):
    """``(line, argv, redirect or None, expected output)`` for each ``$`` line of a console block."""
    commands, current = [], None
    for offset, line in enumerate(block.text.split("\n")):
        if line.startswith("$ "):
            argv = shlex.split(line[2:])
            redirect = None
            if len(argv) >= 2 and argv[-2] == ">":
                argv, redirect = argv[:-2], argv[-1]
            if not argv or argv[0] != "deltaprop":
                raise AssertionError(f"docs/{block.page}:{block.line + 1 + offset}: only '$ deltaprop ...' lines "
                                     "run; mark other commands' blocks {.console .no-run}")
            current = [block.line + 1 + offset, argv[1:], redirect, []]
            commands.append(current)
        elif current is None:
            if line.strip():
                raise AssertionError(f"{block.where}: a console block starts with a '$ deltaprop ...' line")
        else:
            current[3].append(line)
    return [(line, argv, redirect, "\n".join(output)) for line, argv, redirect, output in commands]


def run_console(block: Block, cwd: Path) -> None:
    for line, argv, redirect, expected in console_commands(block):
        where = f"docs/{block.page}:{line}"
        result = subprocess.run([sys.executable, "-m", "deltaprop", *argv], cwd=cwd, env=_environment(),
                                capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            pytest.fail(f"{where}: exit status {result.returncode}\n{result.stdout}{result.stderr}", pytrace=False)
        if redirect is not None:
            (cwd / redirect).write_text(result.stdout, encoding="utf-8")
            check_output(where, expected, result.stderr)
        else:
            check_output(where, expected, result.stdout + result.stderr)


@pytest.mark.parametrize("page", sorted(ALL_BLOCKS))
def test_page_runs_as_shown(page, tmp_path, monkeypatch):
    """The page's Python and console blocks, in order, each printing what the page shows under it."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    for block in ALL_BLOCKS[page]:
        if "no-run" in block.marks:
            if block.lang == "python":
                ast.parse(block.text, block.where)  # shown, not run: still valid Python
        elif "needs-mnist" in block.marks:
            continue  # test_mnist_block runs it, alone
        elif block.lang == "python":
            run_python(block, namespace)
        else:
            run_console(block, tmp_path)


MNIST_BLOCKS = [block for blocks in ALL_BLOCKS.values() for block in blocks if "needs-mnist" in block.marks]


@pytest.mark.slow
@pytest.mark.parametrize("block", MNIST_BLOCKS, ids=[block.where for block in MNIST_BLOCKS])
def test_mnist_block(block, tmp_path, monkeypatch):
    """A block on the real MNIST: runs in a fresh namespace when DELTAPROP_MNIST names its directory."""
    directory = os.environ.get(MNIST_VARIABLE)
    if not directory:
        pytest.skip(f"{block.where} needs the real MNIST: set {MNIST_VARIABLE} to the directory of its files")
    if not Path(directory).is_dir():
        pytest.skip(f"{MNIST_VARIABLE}={directory} is not a directory")
    monkeypatch.chdir(tmp_path)
    run_python(block, {"__name__": "__main__"})


def test_the_guide_has_pages_and_blocks():
    """The rules above catch something: every chapter has runnable blocks, and MNIST stays rare."""
    assert (DOCS / "index.md").exists() and len(PAGES) >= 9
    runnable = [block for blocks in ALL_BLOCKS.values() for block in blocks if not block.marks]
    assert len(runnable) >= 40
    assert len(MNIST_BLOCKS) <= 2


def test_no_link_leaves_the_repository():
    """The guide cites the notes by title and author in prose, and links to nothing outside the repository."""
    for path in [*PAGES, ROOT / "mkdocs.yml"]:
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            assert not re.search(r"https?://|www\.", line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def test_figures_are_referenced_and_present():
    """Every image a page shows is committed under docs/images, and every committed image is shown."""
    shown = set()
    for path in PAGES:
        for name in re.findall(r"\]\((images/[^)\s]+)\)", path.read_text(encoding="utf-8")):
            assert (DOCS / name).is_file(), f"{path.name} shows {name}, which is missing"
            shown.add(name)
    committed = {f"images/{p.name}" for p in (DOCS / "images").iterdir()}
    assert committed <= shown, f"images no page shows: {sorted(committed - shown)}"


def test_make_figures_draws_every_figure(tmp_path):
    """``docs/make_figures.py --out DIR`` redraws the guide's own figures (the benchmark's plot has its script)."""
    pytest.importorskip("matplotlib")
    result = subprocess.run([sys.executable, str(DOCS / "make_figures.py"), "--out", str(tmp_path)], cwd=tmp_path,
                            env=_environment(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    drawn = {p.name for p in tmp_path.glob("*.png")}
    # the benchmark's plot has its own script; docs/make_pictures.py takes the screenshots (it needs Chromium)
    committed = {p.name for p in (DOCS / "images").glob("*.png")} - {"autodiff_scaling.png", "draw_222.png",
                                                                     "explore_222_backward.png",
                                                                     "explore_xor_training.png"}
    assert drawn == committed, (drawn, committed)
    assert all((tmp_path / name).stat().st_size > 5000 for name in drawn)


def test_mkdocs_build_strict(tmp_path):
    """``mkdocs build --strict`` passes: every page, link, anchor and included file resolves."""
    for module, package in (("mkdocs", "mkdocs"), ("material", "mkdocs-material")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{package} is not installed (pip install \"mkdocs>=1.6\" \"mkdocs-material>=9.5\")")
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # mkdocs-material's banner about its successor
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                             str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    assert (site / "index.html").is_file()
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis" not in html and "fonts.gstatic" not in html  # nothing fetched when read either
