"""Users, their passwords and their session tokens (API.md, "Secrets"; issue #7 deepens ACLs).

Passwords are kept as scrypt hashes with a random salt, the parameters stored
next to the hash ("scrypt$n=16384,r=8,p=1$<salt>$<hash>") so they can be
raised later without breaking stored users.  Hashing is deliberately slow, so
it runs off the event loop.

A token is 32 random bytes, given to the user once; the store keeps only its
sha256 with an expiry.  `authenticate` looks the hash up: an attacker
controls the token, not its hash, so timing the lookup reveals nothing.
Comparisons of secrets use `hmac.compare_digest`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jobstreamer.common.edn import Keyword
from jobstreamer.common.errors import BadRequest, Conflict, JobstreamerError, NotFound, Unauthorized
from jobstreamer.common.settings import Secret
from jobstreamer.common.store import Db

from ._lookup import keyword_of, now
from ._store import BusStore

View = dict[Keyword, Any]
# An alias, because `Users.list` shadows the builtin in the class body.
Views = list[View]

ADMIN, OPERATOR, WATCHER = Keyword("admin"), Keyword("operator"), Keyword("watcher")
ROLES: frozenset[Keyword] = frozenset({ADMIN, OPERATOR, WATCHER})
ADMIN_ID = "admin"
DEFAULT_TOKEN_TTL = timedelta(hours=12)
USER_ID = re.compile(r"[A-Za-z0-9_.@-]+")

_ID, _HASH, _ROLE = Keyword("user/id"), Keyword("user/password-hash"), Keyword("user/role")
_TOKEN_HASH, _TOKEN_USER, _EXPIRES = (
    Keyword("token/hash"),
    Keyword("token/user"),
    Keyword("token/expires"),
)
_RETRACT_ENTITY = Keyword("db/retractEntity")


class NoAdminPassword(JobstreamerError):
    """The store has no user and no first admin password was given: the bus cannot start."""


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt's cost parameters.  The default costs 32 MiB and about 100 ms per hash."""

    n: int = 2**15
    r: int = 8
    p: int = 1

    def hash(self, password: str, salt: bytes) -> bytes:
        """The 32-byte scrypt hash of `password`."""
        return hashlib.scrypt(
            password.encode(),
            salt=salt,
            n=self.n,
            r=self.r,
            p=self.p,
            maxmem=256 * self.n * self.r + (1 << 20),
            dklen=32,
        )


def hash_password(password: str, params: ScryptParams = ScryptParams()) -> str:
    """A new salted hash of `password`, with its parameters, as one string."""
    salt = secrets.token_bytes(16)
    hashed = params.hash(password, salt)
    return f"scrypt$n={params.n},r={params.r},p={params.p}${_b64(salt)}${_b64(hashed)}"


def check_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored` (from `hash_password`), in constant time."""
    try:
        scheme, costs, salt, expected = stored.split("$")
        values = dict(item.split("=") for item in costs.split(","))
        params = ScryptParams(n=int(values["n"]), r=int(values["r"]), p=int(values["p"]))
        salt_bytes, expected_bytes = _unb64(salt), _unb64(expected)
    except (ValueError, KeyError):
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(params.hash(password, salt_bytes), expected_bytes)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_hash(token: str) -> str:
    """What the store keeps of a token: its sha256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def role_of(value: object) -> Keyword:
    """A role from a Keyword or its name; BadRequest on `:user/role` otherwise."""
    return keyword_of(value, ROLES, "user/role")


class Users:
    """Users and tokens in the bus store."""

    def __init__(
        self,
        store: BusStore,
        *,
        token_ttl: timedelta = DEFAULT_TOKEN_TTL,
        scrypt: ScryptParams = ScryptParams(),
    ) -> None:
        """`scrypt` sets the cost of new hashes (tests lower it); stored ones keep theirs."""
        self._store = store
        self._ttl = token_ttl
        self._scrypt = scrypt
        # Checked against when the user is unknown, so a login takes as long either way.
        self._decoy: str | None = None

    async def bootstrap_admin(self, password: Secret | None) -> bool:
        """Create the first user, "admin", if the store has no user; True if it did.

        Raises NoAdminPassword when there is no user and no password: the
        bus must not start with an open door or a default password.
        """
        if _has_users(self._store.db()):
            return False
        if password is None or not password.reveal():
            raise NoAdminPassword(
                "no user exists yet: give the first admin's password with --admin-password"
                " or JOBSTREAMER_ADMIN_PASSWORD",
                field="admin-password",
            )
        hashed = await self._hash(password.reveal())

        def tx(db: Db) -> list[Any] | None:
            if _has_users(db):
                return None  # another bootstrap won
            return [{_ID: ADMIN_ID, _HASH: hashed, _ROLE: ADMIN}]

        return await self._store.transact_with(tx) is not None

    async def create(self, user_id: str, password: str, role: Keyword | str) -> View:
        """A new user; BadRequest for a bad id, password or role, Conflict if the id is taken."""
        if not isinstance(user_id, str) or USER_ID.fullmatch(user_id) is None:
            raise BadRequest(
                f"a user id must match ^[A-Za-z0-9_.@-]+$, got {user_id!r}", field="user/id"
            )
        _check_password_given(password)
        role = role_of(role)
        hashed = await self._hash(password)

        def tx(db: Db) -> list[Any]:
            if db.entid([_ID, user_id]) is not None:
                raise Conflict(f"user {user_id!r} exists already", field="user/id")
            return [{_ID: user_id, _HASH: hashed, _ROLE: role}]

        await self._store.transact_with(tx)
        return {_ID: user_id, _ROLE: role}

    def list(self) -> Views:
        """Every user by id, as `{:user/id :user/role}`; never a hash."""
        rows = self._store.db().q(
            "[:find ?id ?role :where [?u :user/id ?id] [?u :user/role ?role]]"
        )
        return [{_ID: user_id, _ROLE: role} for user_id, role in sorted(rows)]

    async def delete(self, user_id: str) -> None:
        """Delete the user and their tokens; NotFound, or Conflict for the last admin."""

        def tx(db: Db) -> list[Any]:
            user = db.entity([_ID, user_id]) if isinstance(user_id, str) else None
            if user is None:
                raise NotFound(f"no user {user_id!r}", field="user/id")
            admins = db.q("[:find [?u ...] :where [?u :user/role :admin]]") or []
            if admins == [user.eid]:
                raise Conflict("the last admin cannot be deleted", field="user/id")
            tokens = db.q("[:find [?t ...] :in $ ?u :where [?t :token/user ?u]]", user.eid) or []
            return [[_RETRACT_ENTITY, e] for e in [*tokens, user.eid]]

        await self._store.transact_with(tx)

    # -- tokens --

    async def login(self, user_id: str, password: str) -> str:
        """A new token for the user; Unauthorized (401) for a wrong id or password.

        The user's expired tokens are dropped at the same time.
        """
        user = self._store.db().entity([_ID, user_id]) if isinstance(user_id, str) else None
        stored: str = user[_HASH] if user is not None else await self._decoy_hash()
        matches = await asyncio.to_thread(
            check_password, password if isinstance(password, str) else "", stored
        )
        if user is None or not matches:
            raise Unauthorized("wrong user id or password")
        token = secrets.token_urlsafe(32)
        issued = now()

        def tx(db: Db) -> list[Any]:
            user_eid = db.entid([_ID, user_id])
            if user_eid is None:
                raise Unauthorized("wrong user id or password")  # deleted meanwhile
            expired = (
                db.q(
                    "[:find [?t ...] :in $ ?u ?now"
                    " :where [?t :token/user ?u] [?t :token/expires ?x] [(< ?x ?now)]]",
                    user_eid,
                    issued,
                )
                or []
            )
            new = {
                _TOKEN_HASH: token_hash(token),
                _TOKEN_USER: user_eid,
                _EXPIRES: issued + self._ttl,
            }
            return [new, *([_RETRACT_ENTITY, t] for t in expired)]

        await self._store.transact_with(tx)
        return token

    def authenticate(self, token: str) -> View | None:
        """`{:user/id :user/role}` of the token's user, or None if unknown or expired."""
        if not isinstance(token, str) or not token:
            return None
        db = self._store.db()
        found = db.entity([_TOKEN_HASH, token_hash(token)])
        if found is None or found[_EXPIRES] <= now() or _TOKEN_USER not in found:
            return None
        user = found[_TOKEN_USER]
        return {_ID: user[_ID], _ROLE: user[_ROLE]}

    async def revoke(self, token: str) -> None:
        """Forget the token; a no-op for an unknown one."""

        def tx(db: Db) -> list[Any] | None:
            eid = db.entid([_TOKEN_HASH, token_hash(token)])
            return None if eid is None else [[_RETRACT_ENTITY, eid]]

        await self._store.transact_with(tx)

    async def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = await self._hash(secrets.token_urlsafe(16))
        return self._decoy

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(hash_password, password, self._scrypt)


def _has_users(db: Db) -> bool:
    return next(iter(db.datoms("aevt", _ID)), None) is not None


def _check_password_given(password: object) -> None:
    if not isinstance(password, str) or not password:
        raise BadRequest("a password must be a non-empty string", field="user/password")
