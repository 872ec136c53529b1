"""Opening a store under a schema other than the stored one.

`connect(path, schema=new)` replays the log under the stored schema (the
datoms in it were resolved under that one), then `rebuild` checks the
current datoms against the new schema and builds the indexes again under
it.  A change the data breaks raises SchemaError naming the attribute, and
the caller saves nothing:

- `:db/unique` added: two entities hold the same value;
- `:db.cardinality/many` -> one: an entity holds several values;
- `:db.type/ref` added: a value is not an entity id.

Everything else (an index, uniqueness dropped, one -> many, a ref made
plain, components, docs) fits any data.  Time views replay the whole log
under the schema in force, so `as_of` a moment before a many -> one change
shows one value per entity (the one asserted last).
"""

from __future__ import annotations

from typing import Any, Iterable

from ._build import build_db
from ._datom import Datom
from ._index import EMAX, Db
from ._schema import Attr, Schema
from ._values import show
from .errors import SchemaError


def rebuild(db: Db, schema: Schema) -> Db:
    """`db`'s datoms indexed under `schema`; SchemaError if they do not fit it."""
    if schema.attrs == db.schema.attrs:  # docs only: the indexes stay as they are
        return db.with_schema(schema)
    for a in sorted(set(db.schema.attrs) | set(schema.attrs)):
        old, new = db.schema.attr(a), schema.attr(a)
        if old != new:
            _check(old, new, db.datoms("aevt", a))
    return build_db(
        schema,
        db.all_datoms(),
        basis_t=db.basis_t,
        max_eid=db.max_eid,
        history_source=db.history_source,
    )


def _check(old: Attr, new: Attr, datoms: Iterable[Datom]) -> None:
    """Whether the datoms of one attribute, in entity order, fit its new definition."""
    a = new.ident
    to_one = old.many and not new.many
    to_ref = new.ref and not old.ref
    to_unique = new.unique is not None and old.unique is None
    if not (to_one or to_ref or to_unique):
        return
    previous: Datom | None = None
    owners: dict[tuple[bool, Any], int] = {}  # True and 1 are different values
    for d in datoms:
        if to_one and previous is not None and previous.e == d.e:
            raise SchemaError(
                f"cannot make {a} :db.cardinality/one: entity {d.e} has several values"
                f" ({show(previous.v)}, {show(d.v)})",
                field=str(a),
            )
        if to_ref and not (type(d.v) is int and 0 < d.v <= EMAX):
            raise SchemaError(
                f"cannot make {a} :db.type/ref: entity {d.e} has the value {show(d.v)},"
                " which is not an entity id",
                field=str(a),
            )
        if to_unique:
            owner = owners.setdefault((type(d.v) is bool, d.v), d.e)
            if owner != d.e:
                raise SchemaError(
                    f"cannot make {a} :db/unique: entities {owner} and {d.e} both have"
                    f" the value {show(d.v)}",
                    field=str(a),
                )
        previous = d
