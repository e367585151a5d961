"""Usage errors: one line on stderr and exit status 2, whatever the
mistake (a bad value, a mistyped flag, a pattern the shell expanded).

argparse prints its whole usage block before the error; an operator who
mistyped one flag reads the last line only, and a script that logs stderr
gets a paragraph per typo.  ``OneLineArgumentParser`` keeps the error and
points at ``--help``.

``check_beam_args`` closes the hole argparse's ``parse_known_args`` leaves:
every flag a command does not know used to go to Beam, which ignores what
it does not know either, so ``--treshold 0.99`` ran a scan at the model's
threshold and exited 0.  The leftovers are parsed by Beam's own option
parser (every ``PipelineOptions`` subclass, runner-specific ones included);
whatever neither knows is refused, with the nearest known spelling.
"""
from __future__ import annotations

import argparse
import difflib
from typing import Iterable, List, NoReturn, Sequence, Tuple

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.runtime import runners


class UsageError(ValueError):
  """A command line that cannot be what the operator meant."""


class OneLineArgumentParser(argparse.ArgumentParser):
  """An ``ArgumentParser`` whose errors are one line:
  ``PROG: error: MESSAGE (see PROG --help)``, exit status 2."""

  def error(self, message: str) -> NoReturn:
    self.exit(2, f'{self.prog}: error: {one_line(message)} '
              f'(see {self.prog} --help)\n')


def one_line(text: str) -> str:
  """``text`` with its line breaks folded into spaces."""
  return ' '.join(str(text).split())


def listing(values: Sequence[str], most: int = 8) -> str:
  """``values`` for a one-line message: the first ``most`` quoted, then
  how many more; ``none`` when there are none."""
  if not values:
    return 'none'
  shown = ', '.join(repr(v) for v in values[:most])
  more = len(values) - most
  return shown + (f' and {more} more' if more > 0 else '')


def option_strings(parser: argparse.ArgumentParser) -> List[str]:
  """Every ``--flag`` spelling ``parser`` accepts."""
  return [s for action in parser._actions  # pylint: disable=protected-access
          for s in action.option_strings if s.startswith('--')]


def beam_parser() -> argparse.ArgumentParser:
  """Beam's own option parser, as ``PipelineOptions`` builds it (every
  subclass of ``PipelineOptions`` loaded, so also Dataflow's, Prism's,
  Flink's, portable runners'), through its public hook; its errors raise
  ``UsageError`` instead of exiting."""
  captured: List[argparse.ArgumentParser] = []
  PipelineOptions([]).get_all_options(add_extra_args_fn=captured.append)
  parser = captured[0]

  def fail(message: str) -> NoReturn:
    raise UsageError(one_line(message))

  parser.error = fail  # an instance attribute shadows the method
  return parser


def suggestion(flag: str, known: Iterable[str]) -> str:
  """`` (did you mean --x?)`` for the closest known spelling, or ''."""
  close = difflib.get_close_matches(flag, sorted(set(known)), n=1,
                                    cutoff=0.75)
  return f' (did you mean {close[0]}?)' if close else ''


def check_beam_args(beam_args: Sequence[str],
                    own_flags: Iterable[str] = ()) -> None:
  """Raises ``UsageError`` unless every argument the command left over is
  a Beam option with a valid value.

  A stray word that is no flag's value is what an unquoted glob leaves
  after the shell expanded it (``--input up/a.mp4 up/b.mp4``): the hint
  says to quote the pattern.  An unknown flag gets the closest spelling
  among the command's and Beam's flags."""
  parser = beam_parser()
  _, unknown = parser.parse_known_args(list(beam_args))
  if not unknown:
    return
  first = unknown[0]
  if first.startswith('-') and first != '-':
    flag = first.split('=', 1)[0]
    known = list(own_flags) + option_strings(parser)
    raise UsageError(f'unknown flag {flag}{suggestion(flag, known)}; '
                     'neither this command nor Beam knows it')
  raise UsageError(
      f'unexpected argument {first!r}: if the shell expanded a pattern, '
      "quote it, as in --input 'uploads/**'")


def parse_job_args(parser: argparse.ArgumentParser, argv: Sequence[str]
                   ) -> Tuple[argparse.Namespace, List[str]]:
  """A Beam job's flags: ours parsed by ``parser``, the rest kept for Beam,
  on the local runner unless they name one.  A flag Beam does not know
  either, or a stray argument, is a usage error (``parser.error``)."""
  known, beam_args = parser.parse_known_args(list(argv))
  try:
    check_beam_args(beam_args, option_strings(parser))
  except UsageError as exc:
    parser.error(str(exc))
  return known, runners.with_default_runner(beam_args)
