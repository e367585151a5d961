"""Typed values of command-line flags, for argparse ``type=``: each raises
``argparse.ArgumentTypeError`` with the bound it broke.  Numbers must be
finite: ``inf`` and ``nan`` are refused everywhere."""
from __future__ import annotations

import argparse
import math
from typing import Callable, Union

Number = Union[int, float]


def bounded(name: str, convert: Callable[[str], Number],
            inside: Callable[[Number], bool], bound: str
            ) -> Callable[[str], Number]:
  """A flag type named ``name`` (argparse shows it for unparsable text):
  ``convert`` the text, then refuse a non-finite value or one not
  ``inside``, saying that it ``must be {bound}``."""

  def parse(text: str) -> Number:
    value = convert(text)
    if not math.isfinite(value):
      raise argparse.ArgumentTypeError(f'must be a finite number, got {text}')
    if not inside(value):
      raise argparse.ArgumentTypeError(f'must be {bound}, got {text}')
    return value

  parse.__name__ = name
  return parse


def in_range(name: str, convert: Callable[[str], Number], low: Number,
             high: Number, low_open: bool = False
             ) -> Callable[[str], Number]:
  """A flag type for numbers in ``[low, high]`` (``(low, high]`` with
  ``low_open``): every numeric flag of a command that starts work has an
  upper bound too, so no value can make the work unbounded.  The range is
  kept as ``low``, ``high`` and ``interval`` on the type, for help texts."""
  interval = f'{"(" if low_open else "["}{low}, {high}]'
  if low_open:
    inside = lambda v: low < v <= high  # pylint: disable=unnecessary-lambda-assignment
  else:
    inside = lambda v: low <= v <= high  # pylint: disable=unnecessary-lambda-assignment
  parse = bounded(name, convert, inside, f'in {interval}')
  parse.low, parse.high, parse.interval = low, high, interval
  return parse


positive_float = bounded('positive_float', float, lambda v: v > 0, '> 0')
non_negative_float = bounded('non_negative_float', float, lambda v: v >= 0,
                             '>= 0')
positive_int = bounded('positive_int', int, lambda v: v > 0,
                       'a positive integer')
non_negative_int = bounded('non_negative_int', int, lambda v: v >= 0, '>= 0')
unit_interval = bounded('unit_interval', float, lambda v: 0 <= v <= 1,
                        'in [0, 1]')
# A share that may be zero but never all, e.g. a held-out fraction.
fraction_below_one = bounded('fraction_below_one', float,
                             lambda v: 0 <= v < 1, 'in [0, 1)')
# A share above zero, up to all of it, e.g. a target precision.
positive_fraction = bounded('positive_fraction', float, lambda v: 0 < v <= 1,
                            'in (0, 1]')


def boolean(text: str) -> bool:
  value = text.strip().lower()
  if value in ('true', '1', 'yes'):
    return True
  if value in ('false', '0', 'no'):
    return False
  raise argparse.ArgumentTypeError(f'expected true or false, got {text!r}')

