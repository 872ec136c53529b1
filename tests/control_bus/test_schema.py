"""The bus schema is valid store schema, and declares what lookups rely on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobstreamer.common.edn import Keyword
from jobstreamer.common.store import Schema, connect
from jobstreamer.control_bus.schema import SCHEMA


def attr(name: str) -> Any:
    return Schema(SCHEMA).attr(Keyword(name))


def test_identities_are_the_ones_the_api_looks_up() -> None:
    identities = {a.full for a, props in Schema(SCHEMA).attrs.items() if props.unique == "identity"}
    assert identities == {
        "db/ident",
        "application/name",
        "version/key",
        "job/key",
        "agent/instance-id",
        "user/id",
        "token/hash",
    }


def test_refs_components_and_indexes() -> None:
    for name in (
        "application/current",
        "version/application",
        "job/application",
        "execution/job",
        "execution/agent",
        "token/user",
    ):
        assert attr(name).ref and not attr(name).many, name
    steps = attr("execution/step-executions")
    assert steps.ref and steps.many and steps.component
    assert attr("version/tasks").many
    # Looked up by value: queued executions, executions of a version.
    assert attr("execution/batch-status").indexed
    assert attr("application/version").indexed


def test_a_store_opens_with_it_and_keeps_it(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.db")
    with connect(path, schema=SCHEMA) as conn:
        conn.transact([{Keyword("application/name"): "hello"}])
    with connect(path) as conn:  # the stored schema is the bus schema
        assert conn.schema == Schema(SCHEMA)
        assert conn.db().entid([Keyword("application/name"), "hello"]) is not None
