"""Settings, declared once as data (STYLE.md, "Configuration").

`BUS_SETTINGS` and `AGENT_SETTINGS` drive the CLI options (`click_options`),
their help text, validation (`resolve`) and a test that fails when one is
undocumented.  The environment is read only where `resolve` is handed it:

    settings = resolve(BUS_SETTINGS, cli=click_kwargs, env=os.environ)
    ControlBus(**settings)

A value comes from the command line, else from the setting's environment
variable (an empty one counts as unset), else from its default.  `None`
means "not set": the component picks (e.g. the agent's name defaults to the
host name).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

import click
from yarl import URL

from .errors import BadRequest

F = TypeVar("F", bound=Callable[..., Any])


class SettingError(BadRequest):
    """A setting has a value it cannot take; `field` is the setting's name."""


class Secret:
    """A secret value: its repr, str and pickle never show it; `reveal()` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(
            self._value.encode(), other._value.encode()
        )

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:
        # Workers get the secret through their pipe, on purpose and in the clear.
        raise TypeError("a Secret is not pickled; send secret.reveal() deliberately")


# Value types: each takes the text from the command line or the environment
# (or an already typed value) and returns the value, or raises ValueError
# saying what it expected.


def port(value: Any) -> int:
    number = _integer(value)
    if not 0 <= number <= 65535:
        raise ValueError("expected a port number from 0 to 65535 (0 picks a free one)")
    return number


def positive_int(value: Any) -> int:
    number = _integer(value)
    if number < 1:
        raise ValueError("expected a whole number of at least 1")
    return number


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip(), 10)
    except ValueError:
        raise ValueError("expected a whole number") from None


def text(value: Any) -> str:
    value = str(value).strip()
    if not value:
        raise ValueError("expected a non-empty value")
    return value


def host(value: Any) -> str:
    value = text(value)
    if any(c.isspace() for c in value):
        raise ValueError("expected a host name or address")
    return value


def ip_address(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(text(value)))
    except ValueError:
        raise ValueError("expected an IP address such as 192.168.1.20") from None


def directory(value: Any) -> Path:
    return Path(text(str(value))).expanduser()


def existing_file(value: Any) -> Path:
    path = directory(value)
    if not path.is_file():
        raise ValueError("no such file")
    return path


def bus_url(value: Any) -> str:
    url = URL(text(value))
    if url.scheme not in ("ws", "wss", "http", "https") or not url.host:
        raise ValueError("expected a URL such as ws://bus.example:45102/join")
    return str(url)


def secret_value(value: Any) -> Secret:
    return value if isinstance(value, Secret) else Secret(text(value))


@dataclass(frozen=True)
class Setting:
    name: str  # the constructor keyword argument
    default: Any
    help: str
    type: Callable[[Any], Any] = text
    env: str | None = None
    cli: str | None = None  # the option; "--" + name with dashes by default
    secret: bool = False  # never echoed, in errors or in help
    metavar: str | None = None
    requires: str | None = None  # another setting that must be set with this one

    @property
    def flag(self) -> str:
        return self.cli or "--" + self.name.replace("_", "-")


# The bus listens on every interface by default: `jobstreamer control-bus`
# exists to coordinate agents on other machines, which must reach it (and
# discovery finds agents across the LAN).  Users, tokens and the cluster
# secret guard it; `jobstreamer up`, the single-machine default, passes
# --host 127.0.0.1.
BUS_SETTINGS: tuple[Setting, ...] = (
    Setting("host", "0.0.0.0", "Address to listen on; 127.0.0.1 keeps the bus to this machine.",
            host, metavar="H"),
    Setting("port", 45102, "HTTP and WebSocket port; 0 picks a free one (printed and announced).",
            port, metavar="P"),
    Setting("data", "~/.jobstreamer/control-bus", "Directory for the store, applications and logs.",
            directory, metavar="DIR"),
    Setting("store", None, "Store: a SQLite file, :memory: or a postgresql:// URL "
            "[default: bus.db in --data].", text, metavar="URL"),
    Setting("apps_dir", None, "Directory of applications (one source tree each) to register "
            "at start and again whenever they change.", directory, metavar="DIR"),
    Setting("interface", None, "Address of the network interface to discover agents on "
            "[default: all].", ip_address, metavar="ADDR"),
    Setting("tls_cert", None, "TLS certificate (PEM) to serve HTTPS and WSS; needs --tls-key.",
            existing_file, metavar="F", requires="tls_key"),
    Setting("tls_key", None, "TLS private key (PEM) for --tls-cert.",
            existing_file, metavar="F", requires="tls_cert"),
    Setting("secret", None, "Cluster secret shared with the agents; prefer the environment "
            "variable, as a command line is visible to other users.",
            secret_value, env="JOBSTREAMER_SECRET", secret=True, metavar="S"),
    Setting("admin_password", None, "Password of the first admin user.",
            secret_value, env="JOBSTREAMER_ADMIN_PASSWORD", secret=True, metavar="S"),
)

AGENT_SETTINGS: tuple[Setting, ...] = (
    Setting("port", 4510, "HTTP port; 0 picks a free one (printed and announced).",
            port, metavar="P"),
    Setting("data", "~/.jobstreamer/agent", "Directory for execution logs and application code.",
            directory, metavar="DIR"),
    Setting("name", None, "Name shown for this agent [default: the host name].",
            text, metavar="N"),
    Setting("max_executions", None, "Executions run at once [default: the number of CPU cores].",
            positive_int, metavar="N"),
    Setting("control_bus", None, "The bus's /join URL; skips discovery, for networks "
            "without multicast.", bus_url, metavar="URL"),
    Setting("interface", None, "Address of the network interface to listen and announce on "
            "[default: all].", ip_address, metavar="ADDR"),
    Setting("secret", None, "Cluster secret shared with the bus; prefer the environment "
            "variable, as a command line is visible to other users.",
            secret_value, env="JOBSTREAMER_SECRET", secret=True, metavar="S"),
)


class Settings(Mapping[str, Any]):
    """Resolved settings: read-only, by key or attribute, `**`-able into a constructor."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy and pickle probe before _values exists
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("settings are read-only")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        # Secrets are `Secret`s by now, whose repr hides them.
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"


def resolve(
    table: Sequence[Setting],
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """The settings in `table` from command-line values, then `env`, then defaults.

    Raises `SettingError` naming the option or variable at fault.
    """
    cli, env = cli or {}, env or {}
    by_name = {setting.name: setting for setting in table}
    unknown = set(cli) - set(by_name)
    if unknown:
        raise TypeError(f"no such settings: {', '.join(sorted(unknown))}")
    values = {}
    for setting in table:
        raw, source = cli.get(setting.name), setting.flag
        if raw is None and setting.env and env.get(setting.env):
            raw, source = env[setting.env], setting.env
        if raw is None:
            raw, source = setting.default, f"default of {setting.flag}"
        values[setting.name] = None if raw is None else _parse(setting, raw, source)
    for setting in table:
        partner = setting.requires and by_name[setting.requires]
        if partner and values[setting.name] is not None and values[partner.name] is None:
            raise SettingError(f"{setting.flag} needs {partner.flag}", field=setting.name)
    return Settings(values)


def _parse(setting: Setting, raw: Any, source: str) -> Any:
    try:
        return setting.type(raw)
    except ValueError as exc:
        shown = "" if setting.secret else f" {str(raw)!r}"
        raise SettingError(f"invalid {source}{shown}: {exc}", field=setting.name) from None


def _help(setting: Setting) -> str:
    extras = []
    if setting.default is not None:
        extras.append(f"default: {setting.default}")
    if setting.env:
        extras.append(f"env: {setting.env}")
    return setting.help + (f" [{'; '.join(extras)}]" if extras else "")


def click_options(table: Sequence[Setting]) -> Callable[[F], F]:
    """A decorator adding one click option per setting, in table order.

    Options default to None and pass text through: `resolve` does the
    environment, the defaults and the validation, so they live in one place.
    """
    options = [
        click.option(s.flag, s.name, default=None, metavar=s.metavar, help=_help(s))
        for s in table
    ]

    def decorate(command: F) -> F:
        for option in reversed(options):  # click lists the innermost first
            command = option(command)
        return command

    return decorate
