"""The `/code` WebSocket: an agent's worker asks the bus for application code.

Requests and replies are EDN maps in text frames (API.md, "Discovery and links"):

    {:code/op :module :application/name "hello" :application/version "<hash>"
     :code/module "hello.tasks" :code/digest "<digest or nil>" :code/request-id 7}
    {:code/op :bundle :application/name "hello" :application/version "<hash>"
     :code/digests {"hello.tasks" "<digest>"} :code/request-id 8}

A module request is answered by a `Module` (the source), a `HasLatest` (the
digest the client sent is current) or a `CodeError`
(`{:error/message "no module hello.nope in hello@abc" :error/status 404}`).
A bundle request is answered by a `Bundle`: every module of the version - a
`HasLatest` entry where `:code/digests` shows the client holds that source
already - and the other files, base64-encoded because EDN has no byte strings.
Every reply echoes the request's `:code/request-id`, so a client may pipeline.

A digest is the hex sha256 of the module's file bytes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .. import edn
from ..edn import Keyword
from ..errors import BadRequest
from ._message import Codec, Message, edn_field, integer, kind_field, mapping, optional, string

_HAS_LATEST = Keyword("code/has-latest")
_MODULES = Keyword("code/modules")
_ERROR_MESSAGE = Keyword("error/message")
_REQUEST_ID = Keyword("code/request-id")


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _digests(value: Any) -> Mapping[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping(value).items()):
        raise TypeError("expected a map of module names to digests")
    return dict(value)


def _resources(value: Any) -> Mapping[str, bytes]:
    try:
        return {string(path): base64.b64decode(string(data), validate=True) for path, data in mapping(value).items()}
    except binascii.Error as exc:
        raise ValueError(f"bad base64: {exc}") from None


def _encode_resources(value: Mapping[str, bytes]) -> dict[str, str]:
    return {path: base64.b64encode(data).decode("ascii") for path, data in value.items()}


def _request_id() -> Any:
    return edn_field("code/request-id", optional(integer))


@dataclass(frozen=True)
class ModuleRequest(Message):
    app: str = edn_field("application/name", string)
    version: str = edn_field("application/version", string)
    module: str = edn_field("code/module", string)
    digest: str | None = edn_field("code/digest", optional(string))
    request_id: int | None = _request_id()
    kind: Literal["module"] = kind_field("module")


@dataclass(frozen=True)
class BundleRequest(Message):
    """`digests` maps module name -> the digest the client already holds."""

    app: str = edn_field("application/name", string)
    version: str = edn_field("application/version", string)
    digests: Mapping[str, str] = edn_field("code/digests", _digests)
    request_id: int | None = _request_id()
    kind: Literal["bundle"] = kind_field("bundle")


@dataclass(frozen=True)
class Module(Message):
    """One module's source.  `path` is relative to the bundle root."""

    module: str = edn_field("code/module", string)
    digest: str = edn_field("code/digest", string)
    source: str = edn_field("code/source", string)
    path: str = edn_field("code/path", string)
    is_package: bool = edn_field("code/package?", _boolean)
    request_id: int | None = _request_id()
    kind: Literal["module"] = kind_field("module")


@dataclass(frozen=True)
class HasLatest(Message):
    """The client's digest is current.  Path and package? come along, so a
    bundle entry of this kind is enough to place the module in the table."""

    module: str = edn_field("code/module", string)
    digest: str = edn_field("code/digest", string)
    path: str = edn_field("code/path", string)
    is_package: bool = edn_field("code/package?", _boolean)
    request_id: int | None = _request_id()
    kind: Literal["has-latest"] = kind_field("has-latest")

    def to_edn(self) -> dict[Keyword, Any]:
        return {**super().to_edn(), _HAS_LATEST: True}


def _module_entry(data: Any) -> Module | HasLatest:
    entry = mapping(data)
    return HasLatest.from_edn(entry) if entry.get(_HAS_LATEST) else Module.from_edn(entry)


def _module_entries(value: Any) -> tuple[Module | HasLatest, ...]:
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"expected a vector of modules, got {type(value).__name__}")
    return tuple(_module_entry(item) for item in value)


def _encode_entries(value: tuple[Module | HasLatest, ...]) -> list[dict[Keyword, Any]]:
    return [entry.to_edn() for entry in value]


@dataclass(frozen=True)
class Bundle(Message):
    """A whole version: its modules and its other files (path -> bytes)."""

    app: str = edn_field("application/name", string)
    version: str = edn_field("application/version", string)
    modules: tuple[Module | HasLatest, ...] = edn_field("code/modules", _module_entries, _encode_entries)
    resources: Mapping[str, bytes] = edn_field("code/resources", _resources, _encode_resources)
    request_id: int | None = _request_id()
    kind: Literal["bundle"] = kind_field("bundle")


@dataclass(frozen=True)
class CodeError(Message):
    message: str = edn_field("error/message", string)
    status: int = edn_field("error/status", integer)
    request_id: int | None = _request_id()
    kind: Literal["error"] = kind_field("error")


Request = ModuleRequest | BundleRequest
Reply = Module | HasLatest | Bundle | CodeError

_REQUESTS: Codec[Any] = Codec("code/op", ModuleRequest, BundleRequest)


def encode(message: Request | Reply) -> str:
    if isinstance(message, (ModuleRequest, BundleRequest)):
        return _REQUESTS.encode(message)
    return edn.dumps(message.to_edn())


def decode_request(text: str) -> Request:
    """The request in `text`; `BadRequest` if it is malformed or unknown."""
    return _REQUESTS.decode(text)  # type: ignore[no-any-return]


def request_id_of(text: str) -> int | None:
    """The request id of a request that failed to decode, so its error can echo it."""
    try:
        data = edn.loads(text)
    except Exception:  # noqa: BLE001 - the decode error is reported already
        return None
    request_id = data.get(_REQUEST_ID) if isinstance(data, Mapping) else None
    return request_id if type(request_id) is int else None


def decode_reply(text: str) -> Reply:
    try:
        data = mapping(edn.loads(text))
    except Exception as exc:  # noqa: BLE001 - any parser failure is the sender's fault
        raise BadRequest(f"malformed /code reply: {exc}") from exc
    if _ERROR_MESSAGE in data:
        return CodeError.from_edn(data)
    if _MODULES in data:
        return Bundle.from_edn(data)
    return _module_entry(data)
