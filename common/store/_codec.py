"""How transactions and checkpoints are encoded for storage (docs/store.md).

A log row holds a transaction's datoms as EDN, `[[e a v added] ...]`, the tx
id being implied by the row: EDN is the log's format because it is the
project's canonical data format, readable by hand and by any EDN reader, and it
can never run code when read.  Every row carries a CRC-32 so that a corrupt or
torn row is detected instead of replayed.

A checkpoint is derived data, rebuilt from the log at will, so it may trade
readability for speed: reading 1M datoms of EDN takes many seconds, `marshal`
over columns takes a fraction of one (docs/store.md has the figures).  Values
marshal cannot hold (Keyword, UUID, datetime, ...) become tagged tuples; no
pickle, so a store file never runs code when opened.  A checkpoint written by
another Python (marshal's format may change) is named by `CHECKPOINT_CODEC`
and ignored by the reader.
"""

from __future__ import annotations

import marshal
import sys
import zlib
from datetime import datetime
from decimal import Decimal
from itertools import repeat
from operator import attrgetter
from typing import Any, Callable, Iterable, Iterator, Sequence
from uuid import UUID

from ..edn import Char, FrozenMap, Keyword, List, Symbol, TaggedLiteral, Vector
from ._datom import Datom
from ._build import gc_paused


class CorruptData(ValueError):
    """Stored bytes do not decode; the storage turns this into a StorageError or a warning."""


# ---------------------------------------------------------------- the log (EDN)


def row_crc(tx: int, instant: str, max_eid: int, data: str) -> int:
    """CRC-32 over every column of a log row, so a change to any of them shows."""
    return zlib.crc32(data.encode(), zlib.crc32(f"{tx} {instant} {max_eid} ".encode()))


def encode_datoms(datoms: Iterable[Datom]) -> str:
    """`[[e a v added] ...]` as EDN text."""
    from ..edn import dumps  # lazily: the EDN writer is a sibling module (PREAMBLE)

    return dumps([[d.e, d.a, d.v, d.added] for d in datoms])


def decode_datoms(tx: int, data: str) -> tuple[Datom, ...]:
    """The datoms of the log row for `tx`; CorruptData if `data` is not that shape."""
    from ..edn import loads

    try:
        rows = loads(data)
    except Exception as e:  # any reader failure means the stored text is damaged
        raise CorruptData(f"its EDN does not parse ({e})") from e
    if not isinstance(rows, (list, tuple)):
        raise CorruptData(f"expected a vector of datoms, got {type(rows).__name__}")
    datoms = []
    for row in rows:
        if not (
            isinstance(row, (list, tuple))
            and len(row) == 4
            and type(row[0]) is int
            and type(row[1]) is Keyword
            and type(row[3]) is bool
        ):
            raise CorruptData(f"expected [e a v added], got {row!r}")
        datoms.append(Datom(row[0], row[1], row[2], tx, row[3]))
    return tuple(datoms)


# ------------------------------------------------------------ checkpoints (marshal)

# marshal's format is only stable within one Python version: a checkpoint names
# the codec that wrote it and is read only by the same one.
CHECKPOINT_CODEC = "columns-1/marshal-{}/py{}.{}".format(marshal.version, *sys.version_info[:2])
# ~50k datoms per row keeps each blob a few MB, so writing one never holds the
# write lock long and reading one never needs a huge buffer.
CHUNK_DATOMS = 50_000

# Values marshal keeps as they are.  A bare tuple in a value column is always a
# tag, so Python tuples (and Vector, a tuple subclass) are tagged themselves.
_PLAIN = frozenset({int, float, str, bool, type(None)})

_KEYWORD, _SYMBOL, _CHAR, _UUID, _INST, _DECIMAL, _TAGGED = range(7)
# Collections: tag -> type, the type rebuilt from the decoded items.
_SEQUENCES: dict[int, type] = {
    10: Vector,
    11: List,
    12: tuple,
    13: list,
    14: frozenset,
    15: set,
}
_MAPS: dict[int, type] = {16: dict, 17: FrozenMap}
_SEQUENCE_TAG = {t: tag for tag, t in _SEQUENCES.items()}
_MAP_TAG = {t: tag for tag, t in _MAPS.items()}


def _tag(v: Any, keywords: dict[Keyword, int]) -> Any:
    """`v` as marshal-able data: itself when plain, else a tuple `(tag, payload...)`."""
    t = type(v)
    if t in _PLAIN:
        return v
    if t is Keyword:
        return (_KEYWORD, keywords.setdefault(v, len(keywords)))
    if t is Symbol:
        return (_SYMBOL, v.full)
    if t is Char:
        return (_CHAR, str.__str__(v))
    if t is UUID:
        return (_UUID, v.int)
    if t is datetime:
        return (_INST, v.isoformat())
    if t is Decimal:
        return (_DECIMAL, str(v))
    if t is TaggedLiteral:
        return (_TAGGED, v.tag.full, _tag(v.value, keywords))
    if t in _SEQUENCE_TAG:
        return (_SEQUENCE_TAG[t], [_tag(x, keywords) for x in v])
    if t in _MAP_TAG:
        return (_MAP_TAG[t], [_tag(x, keywords) for kv in v.items() for x in kv])
    raise TypeError(f"a checkpoint cannot hold a value of type {t.__name__}: {v!r}")


def _untag(v: Any, keywords: Sequence[Keyword]) -> Any:
    if type(v) is not tuple:
        return v
    tag = v[0]
    if tag in _SEQUENCES:
        return _SEQUENCES[tag]([_untag(x, keywords) for x in v[1]])
    if tag in _MAPS:
        items = [_untag(x, keywords) for x in v[1]]
        return _MAPS[tag](zip(items[::2], items[1::2]))
    if tag == _TAGGED:
        return TaggedLiteral(Symbol(v[1]), _untag(v[2], keywords))
    return _SCALARS[tag](v[1], keywords)


_SCALARS: dict[int, Callable[[Any, Sequence[Keyword]], Any]] = {
    _KEYWORD: lambda i, keywords: keywords[i],
    _SYMBOL: lambda name, _: Symbol(name),
    _CHAR: lambda c, _: Char(c),
    _UUID: lambda n, _: UUID(int=n),
    _INST: lambda text, _: datetime.fromisoformat(text),
    _DECIMAL: lambda text, _: Decimal(text),
}

_E, _A, _V, _TX = (attrgetter(f) for f in ("e", "a", "v", "tx"))


def encode_checkpoint(datoms: Sequence[Datom]) -> Iterator[bytes]:
    """The datoms (all assertions) as chunks of columns, each one marshal blob.

    A chunk is `(keyword names, es, attribute indexes, values, txs, keyword
    positions, tagged positions)`: attributes point into the chunk's keyword
    table, and so do the values at keyword positions (keyword values are the
    most common non-plain ones, so they skip the tag machinery); only values
    at tagged positions are `_tag` tuples.
    """
    for start in range(0, len(datoms), CHUNK_DATOMS):
        chunk = datoms[start : start + CHUNK_DATOMS]
        keywords: dict[Keyword, int] = {}
        attrs = [keywords.setdefault(a, len(keywords)) for a in map(_A, chunk)]
        values = list(map(_V, chunk))
        keyword_at, tagged_at = [], []
        for i, v in enumerate(values):
            t = type(v)
            if t is Keyword:
                keyword_at.append(i)
                values[i] = keywords.setdefault(v, len(keywords))
            elif t not in _PLAIN:
                tagged_at.append(i)
                values[i] = _tag(v, keywords)
        names = [k.full for k in keywords]
        es, txs = list(map(_E, chunk)), list(map(_TX, chunk))
        yield marshal.dumps((names, es, attrs, values, txs, keyword_at, tagged_at), 4)


def decode_checkpoint(blobs: Iterable[bytes]) -> list[Datom]:
    """Every datom of a checkpoint's chunks, in order; CorruptData if one does not decode."""
    datoms: list[Datom] = []
    # Building a million tuples triggers hundreds of pointless collections
    # (none of them is garbage); pausing the collector makes decoding 2.3x
    # faster (1.27 s -> 0.55 s per 1M datoms, docs/store.md).
    with gc_paused():
        for blob in blobs:
            try:
                names, es, attrs, values, txs, keyword_at, tagged_at = marshal.loads(blob)
                keywords = [Keyword(n) for n in names]
                for i in keyword_at:
                    values[i] = keywords[values[i]]
                for i in tagged_at:
                    values[i] = _untag(values[i], keywords)
                if not len(es) == len(attrs) == len(values) == len(txs):
                    raise ValueError("columns of different lengths")
                attributes = list(map(keywords.__getitem__, attrs))
            except Exception as e:  # marshal and shape errors alike mean "unreadable"
                raise CorruptData(f"a checkpoint chunk does not decode ({e!r})") from e
            # tuple.__new__ builds the NamedTuple without a Python-level call
            # per datom: 0.13 s instead of 0.23 s (Datom._make) per 1M datoms.
            rows = zip(es, attributes, values, txs, repeat(True))
            datoms.extend(map(tuple.__new__, repeat(Datom), rows))
    return datoms
