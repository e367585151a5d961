"""Generated sections of markdown files: the lines between two marker lines
are rewritten, the rest of the file is kept as it is."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Union


def _marker_line(document: str, marker: str, start: int = 0) -> int:
  """Offset of the first line at or after ``start`` that is ``marker``
  alone (a marker quoted inside a sentence does not count), or -1."""
  found = re.compile(f'^{re.escape(marker)}[ \\t]*$', re.MULTILINE).search(
      document, start)
  return found.start() if found else -1


def replace_section(document: str, section: str, start_marker: str,
                    end_marker: str) -> str:
  """``document`` with the lines between the marker lines replaced."""
  start = _marker_line(document, start_marker)
  end = (-1 if start < 0 else
         _marker_line(document, end_marker, start + len(start_marker)))
  if end < 0:
    raise ValueError(f'no {start_marker} line followed by an {end_marker} '
                     f'line')
  head = document[:start + len(start_marker)]
  return f'{head}\n{section}{document[end:]}'


def rewrite_file(path: Union[str, Path], section: str, start_marker: str,
                 end_marker: str) -> None:
  """Rewrites the generated section of the file at ``path``."""
  path = Path(path)
  path.write_text(replace_section(path.read_text(encoding='utf-8'), section,
                                  start_marker, end_marker),
                  encoding='utf-8')
