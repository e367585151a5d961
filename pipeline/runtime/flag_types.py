"""Typed values of command-line flags, for argparse ``type=``: each raises
``argparse.ArgumentTypeError`` with the bound it broke."""
from __future__ import annotations

import argparse


def positive_float(text: str) -> float:
  value = float(text)
  if not value > 0:
    raise argparse.ArgumentTypeError(f'must be > 0, got {text}')
  return value


def non_negative_float(text: str) -> float:
  value = float(text)
  if value < 0:
    raise argparse.ArgumentTypeError(f'must be >= 0, got {text}')
  return value


def positive_int(text: str) -> int:
  value = int(text)
  if value <= 0:
    raise argparse.ArgumentTypeError(f'must be a positive integer, got {text}')
  return value


def non_negative_int(text: str) -> int:
  value = int(text)
  if value < 0:
    raise argparse.ArgumentTypeError(f'must be >= 0, got {text}')
  return value


def unit_interval(text: str) -> float:
  value = float(text)
  if not 0.0 <= value <= 1.0:
    raise argparse.ArgumentTypeError(f'must be in [0, 1], got {text}')
  return value


def boolean(text: str) -> bool:
  value = text.strip().lower()
  if value in ('true', '1', 'yes'):
    return True
  if value in ('false', '0', 'no'):
    return False
  raise argparse.ArgumentTypeError(f'expected true or false, got {text!r}')


def fraction_below_one(text: str) -> float:
  """A share that may be zero but never all, e.g. a held-out fraction."""
  value = float(text)
  if not 0.0 <= value < 1.0:
    raise argparse.ArgumentTypeError(f'must be in [0, 1), got {text}')
  return value


def positive_fraction(text: str) -> float:
  """A share above zero, up to all of it, e.g. a target precision."""
  value = float(text)
  if not 0.0 < value <= 1.0:
    raise argparse.ArgumentTypeError(f'must be in (0, 1], got {text}')
  return value
