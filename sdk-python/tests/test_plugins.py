"""Discovery of Python algorithms through the ``algohost.algorithms`` entry
points: every broken plugin becomes a diagnostic, never a crash.

``discover()`` is tested in this process against fake distributions (a
``*.dist-info`` folder on ``sys.path``); the host's own diagnostics are tested
in fresh interpreters against broken packages installed with pip, so that
they stay out of this process's hosts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import algohost
import pytest
from algohost._algorithm import AlgorithmSpec
from algohost._plugins import Discovered, discover
from conftest import run_python


def fake_distribution(
    root: Path, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """Writes modules and a distribution declaring ``entry_points`` into ``root``."""
    name = f"fake_{uuid.uuid4().hex[:8]}"
    dist_info = root / f"{name}-1.0.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\n"
    )
    lines = "\n".join(f"{ep} = {target}" for ep, target in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[algohost.algorithms]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


def found(entry_point: str) -> Discovered:
    """The discovery result for one entry point name."""
    matches = [d for d in discover() if d[0].split(" = ")[0] == entry_point]
    assert len(matches) == 1, f"{entry_point} found {len(matches)} times"
    return matches[0]


@pytest.fixture
def plugin_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path for fake distributions and their modules."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def unique(prefix: str) -> str:
    """A module name no other test uses (modules stay in sys.modules)."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_a_decorated_function_is_found(plugin_root: Path) -> None:
    module = unique("good")
    fake_distribution(
        plugin_root,
        {"good_one": f"{module}:good_one"},
        {
            module: "import algohost\n@algohost.algorithm\ndef good_one(ctx, x: int = 1):\n    'Good.'\n"
        },
    )
    entry_point, spec, reason, hint = found("good_one")
    assert entry_point == f"good_one = {module}:good_one"
    assert isinstance(spec, AlgorithmSpec)
    assert spec.manifest["name"] == "good_one"
    assert (reason, hint) == (None, None)


def test_the_test_plugins_are_found() -> None:
    import fixture_plugins

    results = {d[0]: d for d in discover()}
    for name in fixture_plugins.ENTRY_POINTS:
        _, spec, reason, _ = results[f"{name} = fixture_plugins:{name}"]
        assert reason is None and spec is not None


def test_an_import_error_is_a_diagnostic(plugin_root: Path) -> None:
    module = unique("broken")
    fake_distribution(
        plugin_root,
        {"broken_import": f"{module}:algo"},
        {module: "x = 1\nraise RuntimeError('broken on purpose')\n"},
    )
    _, spec, reason, hint = found("broken_import")
    assert spec is None
    assert reason is not None and hint is not None
    assert reason.startswith("failed to import: RuntimeError: broken on purpose (at ")
    assert f"{module}.py:2 in <module>" in reason
    assert f"fix the error in `{module}`" in hint
    assert "uninstall package fake_" in hint


def test_a_missing_dependency_names_it(plugin_root: Path) -> None:
    module = unique("needs")
    fake_distribution(
        plugin_root,
        {"needs_dep": f"{module}:algo"},
        {module: "import no_such_dependency_xyz\n"},
    )
    _, spec, reason, hint = found("needs_dep")
    assert spec is None
    # the location is the plugin's line that imports it
    assert reason is not None and reason.startswith(
        "failed to import: ModuleNotFoundError: No module named "
        "'no_such_dependency_xyz' (at "
    )
    assert reason.endswith(f"{module}.py:1 in <module>)")
    assert hint is not None and hint.startswith(
        "install `no_such_dependency_xyz` (a dependency of package fake_"
    )


def test_a_missing_module_says_to_fix_the_entry_point(plugin_root: Path) -> None:
    fake_distribution(plugin_root, {"nowhere": "no_such_module_xyz:algo"}, {})
    _, spec, reason, hint = found("nowhere")
    assert spec is None
    # no location: the only line is algohost's loader, not the plugin's
    assert reason == "failed to import: ModuleNotFoundError: No module named 'no_such_module_xyz'"
    assert (
        hint is not None
        and "module `no_such_module_xyz` is not installed: fix the entry point" in hint
    )


def test_a_missing_attribute_is_a_diagnostic(plugin_root: Path) -> None:
    module = unique("empty")
    fake_distribution(
        plugin_root, {"missing_attr": f"{module}:algo"}, {module: "x = 1\n"}
    )
    _, spec, reason, hint = found("missing_attr")
    assert spec is None
    assert reason == f"failed to import: AttributeError: module '{module}' has no attribute 'algo'"
    assert hint == f"module `{module}` has no `algo`: fix the entry point or the module"


def test_a_syntax_error_gives_its_line(plugin_root: Path) -> None:
    module = unique("syntax")
    fake_distribution(
        plugin_root, {"bad_syntax": f"{module}:algo"}, {module: "x = 1\ndef (:\n"}
    )
    _, spec, reason, _ = found("bad_syntax")
    assert spec is None
    assert reason is not None and reason.startswith("failed to import: SyntaxError:")
    assert f"{module}.py:2)" in reason


def test_sys_exit_at_import_is_a_diagnostic(plugin_root: Path) -> None:
    module = unique("exits")
    fake_distribution(
        plugin_root,
        {"exits_on_import": f"{module}:algo"},
        {module: "import sys\nsys.exit(2)\n"},
    )
    _, spec, reason, _ = found("exits_on_import")
    assert spec is None
    assert reason is not None and reason.startswith("failed to import: SystemExit: 2")


def test_a_bad_decorator_argument_is_a_diagnostic(plugin_root: Path) -> None:
    module = unique("badname")
    source = "import algohost\n@algohost.algorithm(name='BadName')\ndef algo(ctx):\n    pass\n"
    fake_distribution(plugin_root, {"bad_name": f"{module}:algo"}, {module: source})
    _, spec, reason, _ = found("bad_name")
    assert spec is None
    assert (
        reason is not None
        and "ValueError: algorithm name 'BadName' must be snake_case" in reason
    )


def test_an_undecorated_function_is_a_diagnostic(plugin_root: Path) -> None:
    module = unique("plain")
    fake_distribution(
        plugin_root,
        {"plain": f"{module}:plain"},
        {module: "def plain(ctx):\n    pass\n"},
    )
    _, spec, reason, hint = found("plain")
    assert spec is None
    assert (
        reason
        == f"`{module}:plain` is not decorated with @algohost.algorithm (it is a function)"
    )
    assert hint is not None and hint.startswith(
        "decorate the function with @algohost.algorithm"
    )


def test_an_entry_point_named_differently_from_its_algorithm_is_a_diagnostic(
    plugin_root: Path,
) -> None:
    module = unique("renamed")
    source = "import algohost\n@algohost.algorithm\ndef real_name(ctx):\n    pass\n"
    fake_distribution(
        plugin_root, {"other_name": f"{module}:real_name"}, {module: source}
    )
    _, spec, reason, hint = found("other_name")
    assert spec is None
    assert (
        reason
        == "the entry point is named `other_name` but the algorithm is named `real_name`"
    )
    assert (
        hint is not None
        and f"rename the entry point to `real_name = {module}:real_name`" in hint
    )
    assert 'or pass name="other_name" to @algohost.algorithm' in hint


# --- broken packages installed with pip, seen through Host().diagnostics() ---

BROKEN_PACKAGES: dict[str, tuple[str, str]] = {
    # distribution: (entry point, module source)
    "algohost-broken-import": (
        "broken_import",
        "raise ImportError('this plugin is broken on purpose')\n",
    ),
    "algohost-not-decorated": (
        "not_decorated",
        "def not_decorated(ctx, params):\n    return None\n",
    ),
    "algohost-bad-schema": (
        "bad_schema",
        (
            "import algohost\n"
            "@algohost.algorithm(params={'type': 'object', "
            "'properties': {'n': {'type': 'no-such-type'}}})\n"
            "def bad_schema(ctx, params):\n    return None\n"
        ),
    ),
    "algohost-remote-ref": (
        "remote_ref",
        (
            "import algohost\n"
            "@algohost.algorithm(params={'$ref': 'https://example.com/params.schema.json'})\n"
            "def remote_ref(ctx, params):\n    return None\n"
        ),
    ),
}


def write_package(root: Path, distribution: str, entry_point: str, source: str) -> Path:
    """A minimal setuptools project with one module and one entry point."""
    module = distribution.replace("-", "_")
    project = root / distribution
    project.mkdir()
    (project / f"{module}.py").write_text(source)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{distribution}"
            version = "0.0.1"

            [tool.setuptools]
            py-modules = ["{module}"]

            [project.entry-points."algohost.algorithms"]
            {entry_point} = "{module}:{entry_point}"
            """
        )
    )
    return project


@pytest.fixture(scope="module")
def broken_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder the broken packages are pip-installed into (``--target``),
    put on ``PYTHONPATH`` of the interpreters that check them."""
    root = tmp_path_factory.mktemp("broken-plugins")
    projects = [
        write_package(root, distribution, entry_point, source)
        for distribution, (entry_point, source) in BROKEN_PACKAGES.items()
    ]
    target = root / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(target),
            *map(str, projects),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"pip install of the broken plugins failed:\n{result.stderr}")
    return target


@pytest.fixture(scope="module")
def host_diagnostics(broken_env: Path) -> dict[str, dict[str, str]]:
    """``Host().diagnostics()`` of a fresh interpreter with the broken
    packages installed, by entry-point name."""
    out = run_python(
        "import json, algohost; print(json.dumps(algohost.Host().diagnostics()))",
        env={"PYTHONPATH": str(broken_env)},
    )
    diagnostics: list[dict[str, str]] = json.loads(out.strip().splitlines()[-1])
    return {
        d["location"].split(" = ")[0]: d for d in diagnostics if d["source"] == "python"
    }


def test_host_reports_a_package_that_fails_to_import(
    host_diagnostics: dict[str, dict[str, str]],
) -> None:
    diagnostic = host_diagnostics["broken_import"]
    assert (
        diagnostic["location"] == "broken_import = algohost_broken_import:broken_import"
    )
    assert diagnostic["reason"].startswith(
        "failed to import: ImportError: this plugin is broken on purpose (at "
    )
    assert "algohost_broken_import.py:1 in <module>" in diagnostic["reason"]
    assert "uninstall package algohost-broken-import 0.0.1" in diagnostic["hint"]


def test_host_reports_an_entry_point_that_is_not_decorated(
    host_diagnostics: dict[str, dict[str, str]],
) -> None:
    diagnostic = host_diagnostics["not_decorated"]
    assert diagnostic["reason"] == (
        "`algohost_not_decorated:not_decorated` is not decorated with @algohost.algorithm (it is a function)"
    )
    assert "algohost-not-decorated" in diagnostic["hint"]


def test_host_reports_a_schema_that_does_not_compile(
    host_diagnostics: dict[str, dict[str, str]],
) -> None:
    diagnostic = host_diagnostics["bad_schema"]
    assert diagnostic["reason"].startswith(
        "the params schema of 'bad_schema' does not compile: \"no-such-type\""
    )
    assert diagnostic["hint"].startswith("fix the schema")


def test_host_refuses_a_remote_ref(host_diagnostics: dict[str, dict[str, str]]) -> None:
    diagnostic = host_diagnostics["remote_ref"]
    assert diagnostic["reason"].startswith(
        "the params schema of 'remote_ref' does not compile: Resource 'https://example.com/params.schema.json'"
    )


def test_the_host_still_serves_the_other_algorithms(broken_env: Path) -> None:
    out = run_python(
        "import json, algohost\n"
        "host = algohost.Host()\n"
        "print(json.dumps([a['name'] for a in host.algorithms()]))",
        env={"PYTHONPATH": str(broken_env)},
    )
    names = json.loads(out.strip().splitlines()[-1])
    assert "resample" in names
    assert not {"broken_import", "not_decorated", "bad_schema", "remote_ref"} & set(
        names
    )


def test_the_console_command_shows_the_diagnostics(broken_env: Path) -> None:
    out = run_python(
        "import sys, algohost._cli\nsys.argv = ['algohost', 'plugins']\nalgohost._cli.main()",
        env={"PYTHONPATH": str(broken_env)},
    )
    assert "broken_import" in out
    assert "not decorated with @algohost.algorithm" in out


def test_a_new_host_has_the_plugins_installed_or_reloaded_since_the_last_one() -> None:
    out = run_python(
        "import algohost, importlib, pathlib, sys, tempfile\n"
        "sys.dont_write_bytecode = True\n"
        "root = pathlib.Path(tempfile.mkdtemp())\n"
        "sys.path.insert(0, str(root))\n"
        "before = algohost.Host()\n"
        "# pip install of a package with one entry point, while Python runs\n"
        "source = 'import algohost\\n@algohost.algorithm\\ndef late_algo(ctx):\\n'\n"
        "(root / 'late.py').write_text(source + '    return {\"edited\": False}\\n')\n"
        "dist = root / 'late-0.1.dist-info'\n"
        "dist.mkdir()\n"
        "(dist / 'METADATA').write_text('Metadata-Version: 2.1\\nName: late\\nVersion: 0.1\\n')\n"
        "(dist / 'entry_points.txt').write_text(\n"
        "    '[algohost.algorithms]\\nlate_algo = late:late_algo\\n'\n"
        ")\n"
        "try:\n"
        "    before.run('late_algo')\n"
        "except algohost.PluginError as e:\n"
        "    print(e)\n"
        "print(algohost.Host().run('late_algo').summary)\n"
        "(root / 'late.py').write_text(source + '    return {\"edited\": True}\\n')\n"
        "import late\n"
        "print(algohost.Host().run('late_algo').summary)\n"
        "importlib.reload(late)\n"
        "print(algohost.Host().run('late_algo').summary)\n"
    )
    unknown, first, edited, reloaded = out.splitlines()
    assert unknown.startswith("unknown algorithm 'late_algo'; the registered ones: ")
    assert unknown.endswith(
        "; a plugin installed after this Host was made needs a new algohost.Host() "
        "(one whose code changed since it was imported: importlib.reload(its module) "
        "first, or restart Python, the notebook's kernel)"
    )
    assert (first, edited, reloaded) == (
        "{'edited': False}",
        "{'edited': False}",
        "{'edited': True}",
    )


def test_a_misspelt_name_gets_close_names_without_the_hint_about_new_plugins() -> None:
    with pytest.raises(algohost.PluginError) as e:
        algohost.Host().describe("resampel")
    assert str(e.value) == "unknown algorithm 'resampel'; did you mean 'resample'?"
