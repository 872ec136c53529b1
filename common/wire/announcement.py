"""The zeroconf announcement of an agent: service type and TXT properties.

An agent registers `<instance id>._jobstreamer-agent._tcp.local.` (API.md,
"Discovery and links").  TXT keys are keyword full names, as in JSON:

    agent/instance-id  agent/name  agent/port  agent/secure ("true"/"false")
    protocol/version   announcement/nonce

The nonce changes on every (re)announcement.  A browser that still caches the
agent's records sees nothing new in an identical re-broadcast, so a changed
TXT record is what makes a re-announce (after a dropped link, or a restart
without goodbye) reach a bus as a service update.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from jobstreamer.common.errors import BadRequest

# "jobstreamer-agent" exceeds RFC 6335's 15 bytes, so register with strict=False.
SERVICE_TYPE = "_jobstreamer-agent._tcp.local."
PROTOCOL_VERSION = "1"

INSTANCE_ID = "agent/instance-id"
NAME = "agent/name"
PORT = "agent/port"
SECURE = "agent/secure"
PROTOCOL = "protocol/version"
NONCE = "announcement/nonce"


def service_name(instance_id: str) -> str:
    return f"{instance_id}.{SERVICE_TYPE}"


def txt_properties(*, instance_id: str, name: str, port: int, secure: bool) -> dict[str, str]:
    return {
        INSTANCE_ID: instance_id,
        NAME: name,
        PORT: str(port),
        SECURE: "true" if secure else "false",
        PROTOCOL: PROTOCOL_VERSION,
        NONCE: secrets.token_hex(4),
    }


@dataclass(frozen=True)
class AgentAnnouncement:
    """An agent as a bus sees it: `host` is the best of `addresses` to reach it."""

    instance_id: str
    name: str
    host: str
    port: int
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    addresses: tuple[str, ...] = ()

    @property
    def secure(self) -> bool:
        return self.properties.get(SECURE) == "true"

    @classmethod
    def from_txt(
        cls, properties: Mapping[str, str | None], *, addresses: tuple[str, ...], port: int
    ) -> AgentAnnouncement:
        """Raises BadRequest for a foreign or incompatible announcement."""
        txt = {key: value for key, value in properties.items() if value is not None}
        if txt.get(PROTOCOL) != PROTOCOL_VERSION:
            raise BadRequest(f"unsupported protocol version {txt.get(PROTOCOL)!r}", field=PROTOCOL)
        for key in (INSTANCE_ID, NAME):
            if not txt.get(key):
                raise BadRequest(f"announcement lacks {key}", field=key)
        if not addresses:
            raise BadRequest("announcement has no address")
        return cls(txt[INSTANCE_ID], txt[NAME], addresses[0], port, txt, addresses)
