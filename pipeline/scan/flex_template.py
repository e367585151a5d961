"""The Dataflow Flex Template's ``metadata.json``, derived from the scan's
own option parser so the two cannot drift.

    python -m pipeline.scan.flex_template > dataflow/metadata.json
"""
from __future__ import annotations

import argparse
import json
import re
from typing import Any, Dict, List

from pipeline.scan.options import template_actions

TEMPLATE_NAME = 'archive-rescan'
TEMPLATE_DESCRIPTION = (
    'Re-scan stored videos with a TensorFlow classifier; write flagged clips '
    'and a per-video ledger as Parquet.')


def _label(dest: str) -> str:
  return dest.replace('_', ' ').capitalize()


def _help(action: argparse.Action) -> str:
  text = ' '.join((action.help or '').split())
  return text.replace('%(default)s', str(action.default))


def parameters() -> List[Dict[str, Any]]:
  """One Flex Template parameter per scan flag, in the parser's order."""
  result = []
  for action in template_actions():
    parameter = {
        'name': action.dest,
        'label': _label(action.dest),
        'helpText': _help(action),
        'isOptional': not action.required,
    }
    if action.dest in ('output', 'model', 'audio_model'):
      parameter['regexes'] = [r'^(gs://|/).+$']
    result.append(parameter)
  return result


def metadata() -> Dict[str, Any]:
  return {
      'name': TEMPLATE_NAME,
      'description': TEMPLATE_DESCRIPTION,
      'streaming': False,
      'supportsAtLeastOnce': False,
      'supportsExactlyOnce': True,
      'defaultEnvironment': {},
      'parameters': parameters(),
  }


def render() -> str:
  return json.dumps(metadata(), indent=2, ensure_ascii=False) + '\n'


def is_valid_parameter_name(name: str) -> bool:
  return re.fullmatch(r'[a-zA-Z][-_.a-zA-Z0-9]*[a-zA-Z0-9]', name) is not None


if __name__ == '__main__':
  print(render(), end='')
