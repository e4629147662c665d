"""The house rules that hold for the whole tree: imports run one way (core <- tasks <- benchmarks,
and inside benchmarks studies -> runner -> reporting), no import cycle between modules, no
``sys.path`` edits outside the tests, and ``python benchmarks/run.py`` works from anywhere."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "tasks", "benchmarks", "data_scripts")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The suite's modules that ``name`` imports (at the top or inside a function)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path, _modules()) for name, path in _modules().items()}


def test_core_and_tasks_never_import_benchmarks():
    up = {f"{m} -> {t}" for m, ts in GRAPH.items() if m.split(".")[0] in ("core", "tasks")
          for t in ts if t.split(".")[0] == "benchmarks"}
    assert not up
    assert not {f"{m} -> {t}" for m, ts in GRAPH.items() if m.split(".")[0] == "core"
                for t in ts if t.split(".")[0] == "tasks"}


def test_benchmarks_sub_packages_import_one_way():
    order = {"reporting": 0, "runner": 1, "studies": 2}
    wrong = set()
    for module, targets in GRAPH.items():
        parts = module.split(".")
        if parts[0] != "benchmarks" or len(parts) < 2:
            continue
        for target in targets:
            there = target.split(".")
            if there[0] != "benchmarks" or len(there) < 2 or there[1] == parts[1]:
                continue
            if parts[1] == "practitioner" or there[1] == "practitioner":
                ok = parts[1] in ("cli", "studies")       # the console command, the victim study
            elif parts[1] in order and there[1] in order:
                ok = order[parts[1]] > order[there[1]]
            else:
                ok = parts[1] in ("cli", "run")
            if not ok:
                wrong.add(f"{module} -> {target}")
    assert not wrong


def test_no_import_cycle():
    """Depth-first search over every import, lazy ones included (a lazy import that closes a
    cycle is a cycle all the same)."""
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt.startswith(node + "."):      # a package importing its own submodules
                continue
            if state.get(nxt) == 1 and not node.startswith(nxt + "."):
                cycles.append(stack[stack.index(nxt):] + [node, nxt] if nxt in stack
                              else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])
    assert not cycles


def test_no_sys_path_edits_outside_the_tests():
    edits = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in ("insert", "append", "extend")
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "path"
                    and isinstance(node.value.value, ast.Name) and node.value.value.id == "sys"):
                edits.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not edits


def test_run_py_runs_this_checkouts_runner_from_any_folder(tmp_path):
    """``python benchmarks/run.py`` is the command the README types: run from another folder it
    still reaches this checkout's runner (a bad preset fails with exit 2 and the runner's own
    message)."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--preset",
                           "no_such_preset", "--out", str(tmp_path / "out")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "unknown preset 'no_such_preset'" in done.stderr
    probe = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0 and probe.stdout.startswith("usage: run.py")
    sys.path.insert(0, str(ROOT / "benchmarks"))     # the script's own view of the path
    try:
        import run as script
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
        sys.modules.pop("run", None)
    args, env = script.command(["--preset", "smoke"])
    assert args[-3:] == ["benchmarks.runner", "--preset", "smoke"]
    assert env["PYTHONPATH"].split(":")[0] == str(ROOT)
