"""Users: scrypt hashes, the first admin, tokens kept only as hashes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, Conflict, NotFound, Unauthorized
from jobstreamer.common.settings import Secret
from jobstreamer.control_bus.users import (
    ADMIN,
    OPERATOR,
    NoAdminPassword,
    ScryptParams,
    Users,
    check_password,
    hash_password,
)
from tests.control_bus._domain import FAST_SCRYPT, bus

USER_ID, ROLE = Keyword("user/id"), Keyword("user/role")


def test_hashes_are_salted_and_carry_their_parameters() -> None:
    first, second = hash_password("s3cret", FAST_SCRYPT), hash_password("s3cret", FAST_SCRYPT)
    assert first != second
    assert first.startswith("scrypt$n=256,r=8,p=1$")
    assert check_password("s3cret", first) and check_password("s3cret", second)
    assert not check_password("s3cret!", first)
    stronger = hash_password("s3cret", ScryptParams(n=2**9, r=4, p=2))
    assert check_password("s3cret", stronger)  # each hash is checked with its own costs


@pytest.mark.parametrize(
    "stored", ["", "plain", "md5$n=1$a$b", "scrypt$n=x,r=8,p=1$AA$AA", "scrypt$r=8$AA$AA"]
)
def test_a_malformed_hash_never_matches(stored: str) -> None:
    assert not check_password("anything", stored)


async def test_the_first_admin(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        with pytest.raises(NoAdminPassword) as refused:
            await b.users.bootstrap_admin(None)
        assert "--admin-password" in refused.value.message
        assert await b.users.bootstrap_admin(Secret("first"))
        assert b.users.list() == [{USER_ID: "admin", ROLE: ADMIN}]
        assert not await b.users.bootstrap_admin(Secret("second"))  # a user exists: nothing to do
        assert not await b.users.bootstrap_admin(None)
        await b.users.login("admin", "first")


async def test_login_authenticate_revoke(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await b.users.bootstrap_admin(Secret("pw"))
        token = await b.users.login("admin", "pw")
        assert len(token) >= 43
        assert b.users.authenticate(token) == {USER_ID: "admin", ROLE: ADMIN}
        # Only the hash is stored: no datom holds the token.
        assert all(token not in str(d.v) for d in b.store.db().datoms("eavt"))
        for user_id, password in (("admin", "wrong"), ("nobody", "pw")):
            with pytest.raises(Unauthorized) as refused:
                await b.users.login(user_id, password)
            assert refused.value.status == 401
        assert b.users.authenticate("not-a-token") is None
        assert b.users.authenticate("") is None
        await b.users.revoke(token)
        assert b.users.authenticate(token) is None
        await b.users.revoke(token)  # again: a no-op


async def test_tokens_expire_and_expired_ones_are_dropped(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        users = Users(b.store, token_ttl=timedelta(seconds=-1), scrypt=FAST_SCRYPT)
        await users.bootstrap_admin(Secret("pw"))
        expired = await users.login("admin", "pw")
        assert users.authenticate(expired) is None
        await users.login("admin", "pw")
        tokens = b.store.db().q("[:find [?t ...] :where [?t :token/hash _]]")
        assert len(tokens) == 1  # the first one was dropped by the second login


async def test_create_list_delete(tmp_path: Path) -> None:
    async with bus(tmp_path) as b:
        await b.users.bootstrap_admin(Secret("pw"))
        assert await b.users.create("ops@example.org", "pw2", "operator") == {
            USER_ID: "ops@example.org",
            ROLE: OPERATOR,
        }
        with pytest.raises(Conflict):
            await b.users.create("ops@example.org", "pw3", ":watcher")
        for user_id, password, role, field in (
            ("bad id", "pw", "watcher", "user/id"),
            ("w", "", "watcher", "user/password"),
            ("w", "pw", "root", "user/role"),
        ):
            with pytest.raises(BadRequest) as bad:
                await b.users.create(user_id, password, role)
            assert bad.value.field == field
        listed = b.users.list()
        assert [u[USER_ID] for u in listed] == ["admin", "ops@example.org"]
        assert all(set(u) == {USER_ID, ROLE} for u in listed)  # never a hash

        token = await b.users.login("ops@example.org", "pw2")
        await b.users.delete("ops@example.org")
        assert b.users.authenticate(token) is None
        assert b.store.db().q("[:find [?t ...] :where [?t :token/hash _]]") == []
        with pytest.raises(NotFound):
            await b.users.delete("ops@example.org")
        with pytest.raises(Conflict):
            await b.users.delete("admin")  # the last admin
