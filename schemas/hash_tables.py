"""pyarrow schemas of the known-content matching datasets and of hash banks.

Layout under an output root ``ROOT`` (the same hive layout as the scan's
datasets in ``schemas.tables``)::

    ROOT/frame_hashes/scan=<SCAN_ID>/part-*.parquet
    ROOT/hash_matches/scan=<SCAN_ID>/part-*.parquet

A hash bank is a folder (any Beam filesystem) holding ``bank.json`` and
``entries.parquet`` with the ``BANK_ENTRIES`` schema: one row per known
video (or known image), its PDQ frame hashes nested in a list; and, when
exact-match lists were imported, ``digests.parquet`` with the
``BANK_DIGESTS`` schema: one row per known file digest (MD5 or SHA-256).

``pdq`` is the 256-bit PDQ hash as 32 bytes, most significant byte first:
its hex spelling is the 64-digit hex string every PDQ and vPDQ tool prints.
"""
from typing import Dict

import pyarrow as pa

PDQ_BYTES = 32
PDQ_TYPE = pa.binary(PDQ_BYTES)

FRAME_HASHES = pa.schema(
    [
        pa.field('video_id', pa.string(), nullable=False),
        pa.field('video_uri', pa.string(), nullable=False),
        pa.field('ts_ms', pa.int64(), nullable=False),
        pa.field('pdq', PDQ_TYPE, nullable=False),
        pa.field('quality', pa.int32(), nullable=False),
        pa.field('scan_id', pa.string(), nullable=False),
        pa.field('pdq_mirror', PDQ_TYPE, nullable=True,
                 metadata={'description': 'PDQ hash of the frame mirrored '
                           'left to right (PDQ\'s dihedral FlipY variant, '
                           'from the same DCT); matching also tries it, so '
                           'a mirrored copy of a banked video matches. '
                           'Null in files written before it existed'}),
    ],
    metadata={'description': 'One row per hashed frame: the PDQ hash and '
              'quality of the frame on screen at ts_ms, sampled at the '
              'vPDQ rate.'})

# The kinds of hash_matches rows: perceptual (vPDQ rules over PDQ frame
# hashes) or exact (the file's cryptographic digest in a bank's list).
MATCH_KIND_VPDQ = 'vpdq'
MATCH_KIND_MD5 = 'md5'
MATCH_KIND_SHA256 = 'sha256'
DIGEST_KINDS = (MATCH_KIND_MD5, MATCH_KIND_SHA256)
MATCH_KINDS = (MATCH_KIND_VPDQ,) + DIGEST_KINDS

HASH_MATCHES = pa.schema(
    [
        pa.field('video_id', pa.string(), nullable=False),
        pa.field('video_uri', pa.string(), nullable=False),
        pa.field('bank', pa.string(), nullable=False),
        pa.field('entry_id', pa.string(), nullable=False),
        pa.field('label', pa.string(), nullable=False),
        pa.field('query_match_pct', pa.float64(), nullable=False),
        pa.field('compared_match_pct', pa.float64(), nullable=False),
        pa.field('matched_frames', pa.int32(), nullable=False),
        pa.field('first_match_ms', pa.int64(), nullable=False),
        pa.field('last_match_ms', pa.int64(), nullable=False),
        pa.field('scan_id', pa.string(), nullable=False),
        pa.field('kind', pa.string(), nullable=False,
                 metadata={'description': '"vpdq": matched by the vPDQ '
                           'rules on frame hashes; "md5" or "sha256": the '
                           'file\'s digest (ledger content_md5 or '
                           'content_sha256) is in the bank\'s exact-match '
                           'list (both percentages 100, matched_frames 0, '
                           'first_match_ms 0, last_match_ms the duration '
                           'or 0). Null in files written before it '
                           'existed, which hold vpdq matches only'}),
        pa.field('mirrored', pa.bool_(), nullable=True,
                 metadata={'description': 'true: the video matched through '
                           'its frames\' mirror-image hashes (a left-right '
                           'flipped copy); false for a direct or exact '
                           'match. Null in files written before it '
                           'existed'}),
        pa.field('source_clip_id', pa.string(), nullable=True,
                 metadata={'description': 'the confirmed clip the matched '
                           'bank entry was made from (bank import '
                           '--from-verdicts); null for other entries'}),
    ],
    metadata={'description': 'One row per (video, bank entry) that matched: '
              'under the vPDQ rules (kind "vpdq"), query_match_pct is the '
              'share of the video\'s distinct hashes found in the entry, '
              'compared_match_pct the share of the entry\'s found in the '
              'video; or exactly, by file digest (kind "md5", "sha256").'})

BANK_HASH = pa.struct([
    pa.field('pdq', PDQ_TYPE, nullable=False),
    pa.field('quality', pa.int32(), nullable=False),
    pa.field('ts_ms', pa.int64(), nullable=False),
])

BANK_ENTRIES = pa.schema(
    [
        pa.field('entry_id', pa.string(), nullable=False),
        pa.field('label', pa.string(), nullable=False),
        pa.field('hashes', pa.list_(pa.field('item', BANK_HASH,
                                             nullable=False)),
                 nullable=False),
        pa.field('source_clip_id', pa.string(), nullable=True,
                 metadata={'description': 'the confirmed clip this entry '
                           'was made from (import --from-verdicts: its '
                           'frame hashes in the clip\'s time range); null '
                           'for entries from other sources'}),
    ],
    metadata={'description': 'One row per known item of a hash bank, with '
              'its frame hashes in frame order.'})

BANK_DIGESTS = pa.schema(
    [
        pa.field('entry_id', pa.string(), nullable=False),
        pa.field('label', pa.string(), nullable=False),
        pa.field('kind', pa.string(), nullable=False,
                 metadata={'description': '"md5" or "sha256"'}),
        pa.field('digest', pa.string(), nullable=False,
                 metadata={'description': 'lower-case hex (32 digits for '
                           'md5, 64 for sha256)'}),
    ],
    metadata={'description': 'One row per known file digest of a hash bank '
              '(an exact-match list); several digests may share an '
              'entry_id (versions of one known item).'})

HASH_DATASETS: Dict[str, pa.Schema] = {
    'frame_hashes': FRAME_HASHES,
    'hash_matches': HASH_MATCHES,
}
