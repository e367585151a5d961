"""``rescan bank import``: add known-content hashes to a hash bank
(``pipeline.hashes.banks``)."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence, Tuple

from pipeline.hashes import banks as hash_banks
from pipeline.hashes.digests import DigestListError
from pipeline.runtime import usage
from schemas import review_tables

USAGE = ('usage: rescan bank import --bank DIR --id ID --label LABEL '
         '(--vpdq FILE... | --pdq-hex FILE... | --frame-hashes ROOT '
         '--video-id ID... | --md5 FILE... | --sha256 FILE... | '
         '--from-verdicts ROOT [--verdict V])')


def build_import_parser() -> argparse.ArgumentParser:
  parser = usage.OneLineArgumentParser(
      prog='rescan bank import',
      description='Add known-content hashes to a hash bank (a folder on any '
      'Beam filesystem), creating it if needed.')
  parser.add_argument('--bank', required=True, metavar='DIR',
                      help='the bank folder')
  parser.add_argument('--id', required=True, dest='bank_id',
                      help='the bank id (must equal an existing bank\'s)')
  parser.add_argument('--label', required=True,
                      help='label of the imported entries (and of a new bank)')
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument('--vpdq', nargs='+', metavar='FILE',
                      help='vPDQ feature files or patterns: one entry each')
  source.add_argument('--pdq-hex', nargs='+', metavar='FILE',
                      help='plain PDQ hex lists or patterns')
  source.add_argument('--frame-hashes', metavar='ROOT',
                      help='an output root holding frame_hashes/')
  source.add_argument('--md5', nargs='+', metavar='FILE',
                      help='exact-match lists or patterns: one hex MD5 per '
                      'line, optionally followed by a name (the entry id); '
                      '"#" starts a comment (md5sum output is such a list)')
  source.add_argument('--sha256', nargs='+', metavar='FILE',
                      help='as --md5, with hex SHA-256 digests')
  source.add_argument('--from-verdicts', metavar='ROOT',
                      help='a scan output root: one entry per clip whose '
                      'outcome (the majority of each reviewer\'s latest '
                      'verdict) is --verdict, from its stored frame hashes '
                      'in the clip\'s time range; the bank then matches '
                      'every video the clip is found in')
  parser.add_argument('--verdict', choices=review_tables.VERDICTS,
                      default=None,
                      help='with --from-verdicts: the outcome to bank '
                      f'(default {review_tables.VIOLATING})')
  parser.add_argument('--video-id', action='append', default=[],
                      help='with --frame-hashes: a video to bank (repeatable)')
  parser.add_argument('--hash-scan-id', default=None,
                      help='with --frame-hashes: take hashes from this scan '
                      '(default: each video\'s latest)')
  parser.add_argument('--entry-id', default=None,
                      help='entry id for a single input file (default: the '
                      'file name without extension)')
  parser.add_argument('--entry-per-hash', action='store_true',
                      help='with --pdq-hex: every hash is an entry of its '
                      'own, named by its hex (image hash lists)')
  return parser


# Flags that only mean something with one source, and that source: given
# without it they would be ignored, so they are refused.
SOURCE_OF_FLAG = {
    'verdict': 'from_verdicts',
    'video_id': 'frame_hashes',
    'hash_scan_id': 'frame_hashes',
    'entry_per_hash': 'pdq_hex',
}


def parse_import_args(argv: Sequence[str]) -> argparse.Namespace:
  """The import flags; a flag given without the source it belongs to is a
  one-line usage error (exit 2), not silently ignored."""
  parser = build_import_parser()
  args = parser.parse_args(argv)
  for flag, source in SOURCE_OF_FLAG.items():
    if getattr(args, flag) not in (None, [], False) and not getattr(
        args, source):
      parser.error(f'--{flag.replace("_", "-")} needs '
                   f'--{source.replace("_", "-")}')
  if args.verdict is None:
    args.verdict = review_tables.VIOLATING
  return args


def import_request(args: argparse.Namespace) -> hash_banks.ImportRequest:
  return hash_banks.ImportRequest(
      bank=args.bank, bank_id=args.bank_id, label=args.label,
      vpdq=tuple(args.vpdq or ()), pdq_hex=tuple(args.pdq_hex or ()),
      frame_hashes=args.frame_hashes, video_ids=tuple(args.video_id),
      hash_scan_id=args.hash_scan_id, entry_id=args.entry_id,
      entry_per_hash=args.entry_per_hash, md5=tuple(args.md5 or ()),
      sha256=tuple(args.sha256 or ()), from_verdicts=args.from_verdicts,
      clips=confirmed_clips(args.from_verdicts, args.verdict)
      if args.from_verdicts else ())


class VerdictUsageError(ValueError):
  """``--from-verdicts`` names no scan output root, or no clip in it has
  the outcome asked for: a usage error (exit 2)."""


def confirmed_clips(root: str, verdict: str
                    ) -> Tuple[hash_banks.ClipSource, ...]:
  """The clips under ``root`` whose outcome is ``verdict`` (each video's
  latest scan, as every review command sees it), read by the review
  library (``pipeline.review.query``: DuckDB, the ``[review]`` extra,
  imported only here so that the other imports need no extra)."""
  try:
    from pipeline.review import query as review_query  # pylint: disable=import-outside-toplevel
  except ImportError as exc:
    raise ValueError('--from-verdicts reads verdicts with DuckDB: install '
                     "the review extra (pip install '.[review]')") from exc
  try:
    data = review_query.load_review_data(root)
    review_query.check_root(root, data)
  except review_query.ReviewUsageError as exc:
    raise VerdictUsageError(str(exc)) from exc
  rows = review_query.confirmed_clips(review_query.connect(data), verdict)
  if not rows:
    raise VerdictUsageError(
        f'no clip under {root} has the outcome {verdict!r} (record one '
        'with rescan review verdict CLIP_ID VERDICT)')
  return tuple(hash_banks.ClipSource(
      r['clip_id'], r['video_id'], r['scan_id'], r['start_ms'], r['end_ms'],
      r['outcome']) for r in rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if argv[:1] in (['-h'], ['--help']):
    print(f"{USAGE}\n\nRun 'rescan bank import --help' for the flags.")
    return 0
  if not argv or argv[0] != 'import':
    print(USAGE, file=sys.stderr)
    return 2
  args = parse_import_args(argv[1:])
  try:
    bank, added = hash_banks.import_bank(import_request(args))
  except (DigestListError, VerdictUsageError) as exc:
    # a list to fix, or a root or verdict to name again: not a failed run
    print(f'rescan bank import: error: {usage.one_line(exc)}',
          file=sys.stderr)
    return 2
  except (ValueError, FileNotFoundError, OSError) as exc:
    print(f'rescan bank import: {usage.one_line(exc)}', file=sys.stderr)
    return 1
  hashes = sum(len(e.hashes.quality) for e in bank.entries)
  what = 'digests' if args.md5 or args.sha256 else 'entries'
  if args.from_verdicts:
    what += f', one per clip with outcome {args.verdict!r}'
  print(f'bank {bank.bank_id!r} at {args.bank}: imported {added} {what}; '
        f'now {len(bank.entries)} entries, {hashes} hashes, '
        f'{len(bank.digests)} digests')
  return 0
