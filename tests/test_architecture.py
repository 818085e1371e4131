"""The package layout holds: core ← engine ← tasks (text, vision), no cycles, small modules, and a
vision user never loads the text stack."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("textmix", "vision")
TEXT_STACK = ["transformers", "gensim", "datasets", "textmix.text"]


def is_core(module: str) -> bool:
    return module == "textmix.core" or module.startswith("textmix.core.")


def modules() -> dict[str, Path]:
    """Dotted name → file of every module of the project's packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules ``path`` imports anywhere in its body (function-level imports included);
    ``from pkg import name`` counts as ``pkg.name`` when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names
            ]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_no_import_cycles_counting_function_level_imports():
    edges = graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import cycles: {cycles}"


def test_layers_import_only_downwards():
    """core imports nothing of the project but core; the engine no task; vision not the text task."""
    for name, deps in graph().items():
        if is_core(name):
            assert all(is_core(d) for d in deps), f"core module {name} imports {[d for d in deps if not is_core(d)]}"
        if name.startswith("textmix.engine"):
            bad = {d for d in deps if d.startswith(("textmix.text", "vision", "textmix.cli", "textmix.docs"))}
            assert not bad, f"{name} imports {bad}"
        if name.startswith("vision"):
            assert not {d for d in deps if d.startswith("textmix.text")}, f"{name} imports the text task"
        if name.startswith("textmix.text"):
            assert not {d for d in deps if d.startswith("vision")}, f"{name} imports vision"


def test_the_engine_names_no_text_or_vision_concept():
    words = re.compile(r"\b(featurizer|tokeni[sz]er|hub|images?|pixels?|gensim|transformers?|vocab\w*)\b", re.I)
    for path in sorted((REPO / "textmix" / "engine").rglob("*.py")):
        hits = [f"{path.name}:{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
                if words.search(line)]  # fmt: skip
        assert not hits, "\n".join(hits)


def test_run_directory_file_names_live_in_one_module():
    from textmix.engine.run_directory import RunDir

    # file and folder names RunDir owns ("model", the "eval_" prefix and "tensorboard", also the name of
    # accelerate's tracker, are common words: left out)
    names = {v for k, v in vars(RunDir).items() if k.isupper() and v not in ("model", "eval_", "tensorboard")}
    assert {"metrics.json", "recipe.yaml", "checkpoints", "textmix.json", "model.safetensors"} <= names
    owner = REPO / "textmix" / "engine" / "run_directory.py"
    for name, path in modules().items():
        if name == "textmix.core.prediction_report":  # names the files of its own output folder, not a run directory
            continue
        literals = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
        if path != owner:
            assert not (literals & names), f"{name} spells run-directory names {literals & names}: use RunDir"


def test_no_module_over_400_lines_and_no_function_over_80():
    for name, path in modules().items():
        source = path.read_text()
        assert len(source.splitlines()) <= 400, f"{name} has {len(source.splitlines())} lines"
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                assert length <= 80, f"{name}.{node.name} has {length} lines"


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint([m for m in {TEXT_STACK!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return eval(result.stdout.strip().splitlines()[-1])


def test_core_and_vision_task_import_without_the_text_stack():
    assert loaded_after("import textmix, textmix.engine, vision, vision.task") == []


def test_textmix_train_on_a_vision_recipe_never_loads_the_text_stack(tmp_path):
    from PIL import Image

    for split, n in (("train", 12), ("test", 4)):
        for cls, value in (("cat", 20), ("dog", 220)):
            (tmp_path / "tree" / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (32, 32), (value, 10 * i, 0)).save(tmp_path / "tree" / split / cls / f"{i}.png")
    sets = ["data.name=imagefolder", f"data.path={tmp_path / 'tree'}", "data.max_train_examples=null",
            "train.epochs=1", "train.batch_size=4", "model.options={width: 2, blocks: [1, 1, 1, 1]}",
            "eval.ood=[gaussian_noise]", "eval.mc_dropout_samples=0"]  # fmt: skip
    argv = ["train", str(REPO / "recipes/vision/cifar10_small_mixup.yaml"), "--output-dir", str(tmp_path / "run")]
    argv += [a for s in sets for a in ("--set", s)]
    code = f"import os; os.environ['TEXTMIX_CACHE'] = {str(tmp_path / 'cache')!r}\n"
    code += f"from textmix.cli import main\nassert main({argv!r}) == 0"
    assert loaded_after(code) == []
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("textmix")
    assert script.is_file(), "pip install -e . installs the `textmix` console script"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True).stdout
    assert "train" in out and "evaluate" in out


@pytest.mark.parametrize("task", ["text", "vision"])
def test_built_in_tasks_are_found_through_entry_points(task):
    from textmix.engine.tasks import get_task, task_names

    assert task in task_names()
    assert {"data", "model"} <= set(get_task(task).sections)


WHOLE_OBJECTS = {"Recipe", "Session"}  # the bags a function should not take to read a few fields


def _bag_parameters(function: ast.FunctionDef) -> list[str]:
    """Parameters annotated Recipe / Session, or named recipe / s / session without annotation."""
    out = []
    for arg in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]:
        annotation = ast.unparse(arg.annotation) if arg.annotation else ""
        if annotation.strip("'\"") in WHOLE_OBJECTS or (not annotation and arg.arg in ("recipe", "session", "s")):
            out.append(arg.arg)
    return out


def narrow_argument_violations() -> list[str]:
    """Functions that take a whole Recipe or Session but read fewer than four of its fields (a bag
    passed on whole to another function counts as used whole)."""
    found = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = [n for n in node.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
            if not body:  # a protocol's signature: what implementations may read
                continue
            for param in _bag_parameters(node):
                fields, whole = set(), False
                attribute_values = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Attribute)}
                for n in ast.walk(node):
                    if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == param:
                        fields.add(n.attr)
                    elif isinstance(n, ast.Name) and n.id == param and id(n) not in attribute_values:
                        whole = True
                if not whole and len(fields) < 4:
                    found.append(f"{name}.{node.name}({param}) reads only {sorted(fields)}")
    return found


def test_functions_take_what_they_read_not_a_whole_recipe_or_session():
    assert narrow_argument_violations() == []


@pytest.mark.parametrize("command", ["calibrate", "predict", "report", "sweep"])
def test_help_of_every_command_loads_no_torch(command):
    """Help texts list registry names from a table that imports nothing (textmix.names)."""
    probe = ("import sys, contextlib, io\nfrom textmix.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             f"    try:\n        main([{command!r}, '--help'])\n    except SystemExit:\n        pass\n"
             "print(sorted(m for m in ('torch', 'sklearn', 'transformers') if m in sys.modules))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_help_name_tables_equal_the_registries():
    from textmix import names
    from textmix.core.calibrators import calibrator_names, get_calibrator
    from textmix.core.conformal import BUILT_IN
    from textmix.engine.report import FIGURE_KINDS

    built_in = tuple(n for n in calibrator_names() if get_calibrator(n).__module__.startswith("textmix."))
    assert built_in == names.CALIBRATORS  # a test's plugin calibrator (tests/test_extension_points.py) aside
    assert tuple(cls.name for cls in BUILT_IN) == names.CONFORMAL_SCORES
    assert names.FIGURE_KINDS == FIGURE_KINDS
