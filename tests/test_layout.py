"""The layout's dependency rules, checked on the imports themselves.

docs/architecture.md states the rules; this file keeps them true.  The
checker reads every ``.py`` file with ``ast`` (nothing is imported, so the
test needs neither Beam nor TensorFlow) and counts every import, lazy ones
inside functions included, since a lazy import still ships and still runs.
Importing ``a.b.c`` also runs ``a/__init__.py`` and ``a/b/__init__.py``, so
a module depends on its parent packages as well.

The rules:

- a command (a module in ``pipeline/cli/`` that defines ``main``, other than
  the dispatcher ``pipeline/cli/main.py`` and ``pipeline/cli/__main__.py``)
  never reaches another command, directly or through a library such as
  ``pipeline/cli/common.py``;
- a pure stage imports no ``apache_beam`` itself and never reaches one of
  our Beam graph modules;
- the scan graph (everything of ours ``pipeline.scan.job`` reaches) never
  reaches review, CLI, ``model/``, ``tests/`` or ``benchmarks/`` code, and
  the scan's entry points (``pipeline.run``, ``pipeline.cli.scan``) reach
  no more than the graph and ``pipeline.cli``'s libraries;
- ``schemas/`` imports nothing of ours;
- nothing under ``pipeline/``, ``schemas/`` or ``model/`` imports ``tests``
  or ``benchmarks``.
"""
from __future__ import annotations

import ast
import pathlib
from typing import Dict, FrozenSet, List, NamedTuple, Optional, Set, Tuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Our top-level packages; everything else is a third-party import.
OURS = ('pipeline', 'schemas', 'model', 'tests', 'benchmarks')
# The packages that ship, whose imports the rules constrain.
CHECKED = ('pipeline', 'schemas', 'model')

CLI = 'pipeline.cli'
# Entry points of the cli package that may import every command.
CLI_ENTRY_POINTS = frozenset({'pipeline.cli.main', 'pipeline.cli.__main__'})

# Pure stages: modules (or whole packages, ending in '.*') of plain Python
# that tests call without a pipeline.  Missing ones are skipped, so the rule
# holds as modules are added.
PURE_STAGES = (
    'pipeline.media.*',
    'pipeline.scan.clips',
    'pipeline.scan.decoding',
    'pipeline.scan.identities',
    'pipeline.scan.ledger',
    'pipeline.scan.rescoring',
    'pipeline.scan.probing',
    'pipeline.scan.settings',
    'pipeline.hashes.pdq',
    'pipeline.hashes.matching',
    'pipeline.hashes.index',
    'pipeline.hashes.digests',
)
# Our modules that build Beam graphs (transforms, DoFns, sinks).
BEAM_GRAPH = frozenset({
    'pipeline.scan.transforms',
    'pipeline.scan.graph',
    'pipeline.scan.job',
    'pipeline.hashes.match_job',
    'pipeline.storage.parquet',
})
BEAM = 'apache_beam'

SCAN_JOB = 'pipeline.scan.job'
# What the scan never loads: workers know a model only by its contract, and
# install neither the reviewer's tools nor the toolkit.  The scan's graph is
# everything pipeline.scan.job reaches; its entry points (the Flex
# Template's `python -m pipeline.run`, and `rescan scan`) are CLI code
# themselves, so they may reach pipeline.cli's libraries, and nothing else.
NOT_IN_THE_SCAN = ('pipeline.review', 'model', 'tests', 'benchmarks')
SCAN_ROOTS = {
    SCAN_JOB: NOT_IN_THE_SCAN + ('pipeline.cli',),
    'pipeline.run': NOT_IN_THE_SCAN,
    'pipeline.cli.scan': NOT_IN_THE_SCAN,
}
NEVER_SHIPPED = ('tests', 'benchmarks')


class Violation(NamedTuple):
  """``module`` breaks ``rule`` by importing (or reaching) ``target``."""
  rule: str
  module: str
  target: str


class Module(NamedTuple):
  name: str
  path: pathlib.Path
  is_package: bool


def within(name: str, prefix: str) -> bool:
  """``name`` is ``prefix`` or a module inside it."""
  return name == prefix or name.startswith(prefix + '.')


def find_modules(root: pathlib.Path,
                 packages: Tuple[str, ...] = OURS) -> Dict[str, Module]:
  """Every ``.py`` file under the given top-level folders of ``root``, by
  dotted module name (``pkg/__init__.py`` is ``pkg``)."""
  modules = {}
  for package in packages:
    for path in sorted((root / package).rglob('*.py')):
      parts = path.relative_to(root).with_suffix('').parts
      if any(part.startswith('.') for part in parts):
        continue
      is_package = parts[-1] == '__init__'
      name = '.'.join(parts[:-1] if is_package else parts)
      modules[name] = Module(name, path, is_package)
  return modules


def _resolve_relative(module: Module, level: int,
                      target: Optional[str]) -> str:
  """The absolute name of ``from .target import ...`` in ``module``."""
  package = module.name.split('.')
  if not module.is_package:
    package = package[:-1]
  base = package[:len(package) - (level - 1)]
  return '.'.join(base + ([target] if target else []))


def imports_of(module: Module, known: FrozenSet[str]) -> Set[str]:
  """Every module name ``module`` imports, anywhere in the file.  For
  ``from x import y`` that is ``x``, plus ``x.y`` when ``x.y`` is one of
  ``known`` (a submodule, not a name defined in ``x``)."""
  tree = ast.parse(module.path.read_text(encoding='utf-8'),
                   filename=str(module.path))
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = (_resolve_relative(module, node.level, node.module)
              if node.level else node.module)
      names.add(base)
      for alias in node.names:
        if f'{base}.{alias.name}' in known:
          names.add(f'{base}.{alias.name}')
  return names


def dependencies(modules: Dict[str, Module]) -> Dict[str, Set[str]]:
  """Our modules each module loads: what it imports, with every parent
  package of each (whose ``__init__`` runs first), and its own parents."""
  known = frozenset(modules)
  graph = {}
  for name, module in modules.items():
    loads = set()
    for imported in imports_of(module, known) | {name}:
      parts = imported.split('.')
      for end in range(1, len(parts) + 1):
        candidate = '.'.join(parts[:end])
        if candidate in known:
          loads.add(candidate)
    loads.discard(name)
    graph[name] = loads
  return graph


def reachable(graph: Dict[str, Set[str]], start: str) -> Set[str]:
  """Our modules that loading ``start`` loads, ``start`` excluded."""
  seen = set()
  stack = list(graph.get(start, ()))
  while stack:
    name = stack.pop()
    if name in seen or name == start:
      continue
    seen.add(name)
    stack.extend(graph.get(name, ()))
  return seen


def _binds_main(module: Module) -> bool:
  """``main`` is defined (or imported) at the module's top level."""
  tree = ast.parse(module.path.read_text(encoding='utf-8'))
  for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      if node.name == 'main':
        return True
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
      if any((alias.asname or alias.name) == 'main' for alias in node.names):
        return True
    elif isinstance(node, ast.Assign):
      if any(isinstance(t, ast.Name) and t.id == 'main' for t in node.targets):
        return True
  return False


def command_modules(modules: Dict[str, Module]) -> Set[str]:
  """The command modules: ``pipeline/cli/<name>.py`` defining ``main``."""
  return {
      name for name, module in modules.items()
      if name.rpartition('.')[0] == CLI and not module.is_package
      and name not in CLI_ENTRY_POINTS and _binds_main(module)
  }


def pure_stage_modules(modules: Dict[str, Module]) -> Set[str]:
  selected = set()
  for pattern in PURE_STAGES:
    if pattern.endswith('.*'):
      package = pattern[:-2]
      selected.update(n for n in modules if within(n, package))
    elif pattern in modules:
      selected.add(pattern)
  return selected


def check_layout(root: pathlib.Path) -> List[Violation]:
  """Every broken rule in the tree under ``root``, sorted; empty when the
  layout obeys them all."""
  modules = find_modules(root)
  known = frozenset(modules)
  direct = {name: imports_of(module, known)
            for name, module in modules.items()}
  graph = dependencies(modules)
  checked = [n for n in sorted(modules)
             if any(within(n, top) for top in CHECKED)]
  found = set()

  commands = command_modules(modules)
  for command in commands:
    for other in reachable(graph, command) & commands:
      found.add(Violation('a command imports another command', command,
                          other))

  for stage in pure_stage_modules(modules):
    for imported in direct[stage]:
      if within(imported, BEAM):
        found.add(Violation('a pure stage imports apache_beam', stage,
                            imported))
    for graph_module in reachable(graph, stage) & BEAM_GRAPH:
      found.add(Violation('a pure stage imports a Beam graph module', stage,
                          graph_module))

  for root_module, excluded in SCAN_ROOTS.items():
    if root_module not in modules:
      continue
    for reached in reachable(graph, root_module):
      if any(within(reached, p) for p in excluded):
        found.add(Violation('the scan reaches review, CLI, model or test '
                            'code', root_module, reached))

  for name in checked:
    for imported in direct[name]:
      top = imported.split('.')[0]
      if within(name, 'schemas') and top in OURS and top != 'schemas':
        found.add(Violation('schemas imports our code', name, imported))
      if top in NEVER_SHIPPED:
        found.add(Violation('shipped code imports tests or benchmarks', name,
                            imported))
  return sorted(found)


def explain(violations: List[Violation]) -> str:
  return '\n'.join(f'{v.rule}: {v.module} -> {v.target}' for v in violations)


# The project's own tree.

@pytest.fixture(scope='module')
def project_violations() -> List[Violation]:
  return check_layout(ROOT)


def _broken(violations: List[Violation], rule_start: str) -> List[Violation]:
  return [v for v in violations if v.rule.startswith(rule_start)]


def test_the_checker_sees_the_project():
  """Guards the rules against passing because they look at nothing."""
  modules = find_modules(ROOT)
  assert SCAN_JOB in modules
  assert {'pipeline.cli.scan', 'pipeline.cli.review'} <= command_modules(
      modules)
  assert 'pipeline.cli.common' not in command_modules(modules)
  assert 'pipeline.media.decode' in pure_stage_modules(modules)
  assert 'pipeline.scan.transforms' in reachable(dependencies(modules),
                                                 SCAN_JOB)


def test_commands_never_import_commands(project_violations):
  broken = _broken(project_violations, 'a command')
  assert not broken, explain(broken)


def test_pure_stages_import_no_beam_graph(project_violations):
  broken = _broken(project_violations, 'a pure stage')
  assert not broken, explain(broken)


def test_the_scan_never_reaches_review_cli_or_model(project_violations):
  broken = _broken(project_violations, 'the scan')
  assert not broken, explain(broken)


def test_schemas_import_nothing_of_ours(project_violations):
  broken = _broken(project_violations, 'schemas')
  assert not broken, explain(broken)


def test_shipped_code_never_imports_tests_or_benchmarks(project_violations):
  broken = _broken(project_violations, 'shipped code')
  assert not broken, explain(broken)


# The checker itself, on small fake trees.

def _write(root: pathlib.Path, files: Dict[str, str]) -> pathlib.Path:
  for relative, text in files.items():
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding='utf-8')
  return root


def _fake_tree(root: pathlib.Path,
               overrides: Optional[Dict[str, str]] = None) -> pathlib.Path:
  """A tree that obeys every rule, with ``overrides`` (path -> text)
  replacing some of its files."""
  files = {
      'pipeline/__init__.py': '',
      'pipeline/cli/__init__.py': '',
      'pipeline/cli/__main__.py': 'from pipeline.cli.main import main\n',
      'pipeline/cli/main.py': (
          'import importlib\n'
          'def main():\n'
          '  from pipeline.cli import scan\n'
          '  from pipeline.cli import demo\n'),
      'pipeline/cli/common.py': (
          'from pipeline.scan import job\n'
          'def run_scan(argv):\n'
          '  return job.run(argv)\n'),
      'pipeline/cli/scan.py': (
          'from pipeline.cli import common\n'
          'def main(argv):\n'
          '  return common.run_scan(argv)\n'),
      'pipeline/cli/demo.py': (
          'from pipeline.cli.common import run_scan\n'
          'def main(argv):\n'
          '  return run_scan(argv)\n'),
      'pipeline/media/__init__.py': '',
      'pipeline/media/decode.py': (
          'import numpy\n'
          'from pipeline.storage import files\n'),
      'pipeline/storage/__init__.py': '',
      'pipeline/storage/files.py': (
          'from apache_beam.io.filesystems import FileSystems\n'),
      'pipeline/scan/__init__.py': '',
      'pipeline/scan/clips.py': 'from ..media import decode\n',
      'pipeline/scan/transforms.py': (
          'import apache_beam as beam\n'
          'from pipeline.scan import clips\n'),
      'pipeline/scan/job.py': (
          'import schemas\n'
          'from pipeline.scan.transforms import ScanVideos\n'),
      'schemas/__init__.py': 'import pyarrow\n',
      'model/__init__.py': '',
      'model/train.py': 'from pipeline.media import decode\n',
      'tests/__init__.py': '',
      'tests/faults.py': 'from pipeline.scan import transforms\n',
  }
  files.update(overrides or {})
  return _write(root, files)


def test_a_tree_that_obeys_the_rules_passes(tmp_path):
  assert check_layout(_fake_tree(tmp_path)) == []


def test_a_command_importing_a_command_is_reported(tmp_path):
  root = _fake_tree(tmp_path, {'pipeline/cli/demo.py': (
      'from pipeline.cli import scan\n'
      'def main(argv):\n'
      '  return scan.main(argv)\n')})
  assert check_layout(root) == [
      Violation('a command imports another command', 'pipeline.cli.demo',
                'pipeline.cli.scan')]


def test_the_project_with_one_command_importing_another_fails(tmp_path):
  """The project's own sources, with ``rescan demo`` importing ``rescan
  scan``: exactly that is reported."""
  for package in OURS:
    for path in (ROOT / package).rglob('*.py'):
      copy = tmp_path / path.relative_to(ROOT)
      copy.parent.mkdir(parents=True, exist_ok=True)
      copy.write_text(path.read_text(encoding='utf-8'), encoding='utf-8')
  demo = tmp_path / 'pipeline' / 'cli' / 'demo.py'
  demo.write_text(demo.read_text(encoding='utf-8') +
                  '\nfrom pipeline.cli import scan  # noqa: E402\n',
                  encoding='utf-8')
  before = check_layout(ROOT)
  assert sorted(set(check_layout(tmp_path)) - set(before)) == [
      Violation('a command imports another command', 'pipeline.cli.demo',
                'pipeline.cli.scan')]


def test_a_command_reaching_a_command_through_a_library_is_reported(tmp_path):
  root = _fake_tree(tmp_path, {'pipeline/cli/common.py': (
      'def run_scan(argv):\n'
      '  from pipeline.cli.scan import main\n'
      '  return main(argv)\n')})
  assert check_layout(root) == [
      Violation('a command imports another command', 'pipeline.cli.demo',
                'pipeline.cli.scan')]


def test_a_pure_stage_importing_apache_beam_is_reported(tmp_path):
  root = _fake_tree(tmp_path, {'pipeline/media/decode.py': (
      'from apache_beam.metrics import Metrics\n')})
  assert check_layout(root) == [
      Violation('a pure stage imports apache_beam', 'pipeline.media.decode',
                'apache_beam.metrics')]


def test_a_pure_stage_reaching_the_beam_graph_is_reported(tmp_path):
  root = _fake_tree(tmp_path, {'pipeline/scan/clips.py': (
      'from . import transforms\n')})
  assert check_layout(root) == [
      Violation('a pure stage imports a Beam graph module',
                'pipeline.scan.clips', 'pipeline.scan.transforms')]


def test_the_scan_reaching_review_cli_or_tests_is_reported(tmp_path):
  root = _fake_tree(tmp_path, {'pipeline/scan/transforms.py': (
      'import apache_beam\n'
      'def process():\n'
      '  import tests.faults\n'
      '  from pipeline.cli import common\n')})
  scan = 'the scan reaches review, CLI, model or test code'
  assert check_layout(root) == [
      Violation('shipped code imports tests or benchmarks',
                'pipeline.scan.transforms', 'tests.faults'),
      Violation(scan, 'pipeline.cli.scan', 'tests'),
      Violation(scan, 'pipeline.cli.scan', 'tests.faults'),
      Violation(scan, 'pipeline.scan.job', 'pipeline.cli'),
      Violation(scan, 'pipeline.scan.job', 'pipeline.cli.common'),
      Violation(scan, 'pipeline.scan.job', 'tests'),
      Violation(scan, 'pipeline.scan.job', 'tests.faults'),
  ]


def test_the_scan_command_reaching_review_code_is_reported(tmp_path):
  root = _fake_tree(tmp_path, {
      'pipeline/cli/common.py': (
          'from pipeline.scan import job\n'
          'from pipeline.review import query\n'),
      'pipeline/review/__init__.py': '',
      'pipeline/review/query.py': 'import duckdb\n',
      'pipeline/run.py': 'from pipeline.cli import scan\n',
  })
  scan = 'the scan reaches review, CLI, model or test code'
  assert check_layout(root) == [
      Violation(scan, 'pipeline.cli.scan', 'pipeline.review'),
      Violation(scan, 'pipeline.cli.scan', 'pipeline.review.query'),
      Violation(scan, 'pipeline.run', 'pipeline.review'),
      Violation(scan, 'pipeline.run', 'pipeline.review.query'),
  ]


def test_schemas_importing_our_code_is_reported(tmp_path):
  root = _fake_tree(tmp_path, {'schemas/__init__.py': (
      'import pyarrow\n'
      'from pipeline.scan import clips\n')})
  assert check_layout(root) == [
      Violation('schemas imports our code', 'schemas', 'pipeline.scan'),
      Violation('schemas imports our code', 'schemas', 'pipeline.scan.clips'),
  ]
