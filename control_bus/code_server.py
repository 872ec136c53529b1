"""`GET /code`: the WebSocket the agents' workers import application code over.

The protocol is in jobstreamer.common.wire.code.  The server knows bundles
only through a `BundleSource`, an async lookup of (app, version) that the bus
backs with its store: it returns the bundle, or None (or raises NotFound)
when there is none.  Requests are answered in order, one at a time per link,
each reply echoing its request id.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections import OrderedDict
from dataclasses import dataclass, replace
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import WSCloseCode, WSMsgType, web

from jobstreamer.common.errors import JobstreamerError, NotFound
from jobstreamer.common.wire import code
from jobstreamer.common.wire.middleware import verify_request
from jobstreamer.common.wire.signing import Key, ReplayGuard

from ._bundle import Bundle

BundleSource = Callable[[str, str], Awaitable[Bundle | None]]

# Enough for every version running at once on a busy cluster; each entry only
# holds decoded sources, and the bundle itself is cached by the BundleSource.
_CATALOGS_KEPT = 32


@dataclass(slots=True)
class _Catalog:
    """A version's modules with digests and decoded sources, computed once."""

    app: str
    version: str
    modules: dict[str, code.Module]
    resources: dict[str, bytes]
    _whole: str | None = None

    @classmethod
    def of(cls, app: str, bundle: Bundle) -> _Catalog:
        modules = {}
        for name, entry in bundle.modules.items():
            data = bundle.source_bytes(name)
            modules[name] = code.Module(
                module=name,
                digest=hashlib.sha256(data).hexdigest(),
                source=_decode_source(data),
                path=entry.path,
                is_package=entry.is_package,
                request_id=None,
            )
        return cls(app, bundle.version, modules, bundle.resources)

    def bundle(self, digests: Mapping[str, str], request_id: int | None) -> str:
        if not digests:
            return self._whole_bundle(request_id)
        entries = tuple(
            _has_latest(m, None) if digests.get(name) == m.digest else m for name, m in self.modules.items()
        )
        return code.encode(code.Bundle(self.app, self.version, entries, self.resources, request_id))

    def _whole_bundle(self, request_id: int | None) -> str:
        # What every fresh worker asks for, and the costly reply to encode (about
        # 40 ms per MB of source): encoded once per version, the request id spliced
        # into the map's last entry, where Bundle.to_edn puts it.
        if self._whole is None:
            self._whole = code.encode(
                code.Bundle(self.app, self.version, tuple(self.modules.values()), self.resources, None)
            )
            assert self._whole.endswith(_NO_ID)
        return self._whole[: -len(_NO_ID)] + f":code/request-id {_edn_int(request_id)}}}"


def _decode_source(data: bytes) -> str:
    try:
        return importlib.util.decode_source(data)  # honours PEP 263 coding cookies
    except (SyntaxError, UnicodeDecodeError, LookupError):
        # Still served: compiling it in the worker reports the error with its line.
        return data.decode("utf-8", "replace")


_NO_ID = ":code/request-id nil}"


def _edn_int(value: int | None) -> str:
    return "nil" if value is None else str(int(value))


def _has_latest(module: code.Module, request_id: int | None) -> code.HasLatest:
    return code.HasLatest(module.module, module.digest, module.path, module.is_package, request_id)


class CodeServer:
    def __init__(self, bundles: BundleSource, *, secret: Key) -> None:
        self._bundles = bundles
        self._secret = secret
        self._replays = ReplayGuard()
        self._catalogs: OrderedDict[tuple[str, str], _Catalog] = OrderedDict()
        self._links: set[web.WebSocketResponse] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/code", self.handle)
        app.on_shutdown.append(self._close_links)

    async def _close_links(self, app: web.Application) -> None:
        # Workers keep their link open between runs; without this, a bus shutdown
        # waits out aiohttp's shutdown timeout for every one of them.
        for ws in list(self._links):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"control bus shutting down")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The route handler; an unsigned upgrade raises `Unauthorized` (401),
        rendered by the app's error middleware."""
        await verify_request(request, self._secret, guard=self._replays)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._links.add(ws)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await ws.send_str(await self.answer(message.data))
                elif message.type == WSMsgType.BINARY:
                    await ws.send_str(code.encode(code.CodeError("/code takes EDN text frames", 400, None)))
        finally:
            self._links.discard(ws)
        return ws

    async def answer(self, text: str) -> str:
        """The reply (EDN text) to one request frame; errors become `CodeError` replies."""
        try:
            request = code.decode_request(text)
        except JobstreamerError as exc:
            return code.encode(code.CodeError(exc.message, exc.status, code.request_id_of(text)))
        try:
            catalog = await self._catalog(request.app, request.version)
            if isinstance(request, code.ModuleRequest):
                return code.encode(self._module(catalog, request))
            return catalog.bundle(request.digests, request.request_id)
        except JobstreamerError as exc:
            return code.encode(code.CodeError(exc.message, exc.status, request.request_id))

    async def _catalog(self, app: str, version: str) -> _Catalog:
        key = (app, version)
        if key in self._catalogs:
            self._catalogs.move_to_end(key)
            return self._catalogs[key]
        bundle = await self._bundles(app, version)
        if bundle is None:
            raise NotFound(f"no version {version} of application {app}")
        catalog = self._catalogs[key] = _Catalog.of(app, bundle)
        if len(self._catalogs) > _CATALOGS_KEPT:
            self._catalogs.popitem(last=False)
        return catalog

    @staticmethod
    def _module(catalog: _Catalog, request: code.ModuleRequest) -> code.Module | code.HasLatest:
        module = catalog.modules.get(request.module)
        if module is None:
            raise NotFound(f"no module {request.module} in {request.app}@{request.version}")
        if request.digest == module.digest:
            return _has_latest(module, request.request_id)
        return replace(module, request_id=request.request_id)
