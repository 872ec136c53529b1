from __future__ import annotations

import pickle
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from jobstreamer.common.settings import (
    AGENT_SETTINGS,
    BUS_SETTINGS,
    Secret,
    Setting,
    SettingError,
    click_options,
    resolve,
)

TABLES = pytest.mark.parametrize("table", [BUS_SETTINGS, AGENT_SETTINGS], ids=["bus", "agent"])


@TABLES
def test_every_setting_is_documented(table: tuple[Setting, ...]) -> None:
    undocumented = [s.name for s in table if len(s.help.strip()) < 10]
    assert not undocumented


@TABLES
def test_names_flags_and_variables_are_unique(table: tuple[Setting, ...]) -> None:
    for attribute in ("name", "flag"):
        values = [getattr(s, attribute) for s in table]
        assert len(values) == len(set(values))
    assert all(s.name.isidentifier() for s in table)
    assert all(s.env.startswith("JOBSTREAMER_") for s in table if s.env)
    assert all(s.env for s in table if s.secret)


@TABLES
def test_defaults_are_valid_values(table: tuple[Setting, ...]) -> None:
    settings = resolve(table)
    assert set(settings) == {s.name for s in table}


def test_api_defaults() -> None:
    bus, agent = resolve(BUS_SETTINGS), resolve(AGENT_SETTINGS)
    assert (bus.host, bus.port, agent.port) == ("0.0.0.0", 45102, 4510)
    assert bus.data == Path.home() / ".jobstreamer" / "control-bus"
    assert bus.secret is None and agent.max_executions is None


def test_the_command_line_beats_the_environment_which_beats_the_default() -> None:
    env = {"JOBSTREAMER_SECRET": "from-env"}
    assert resolve(AGENT_SETTINGS, env=env).secret == Secret("from-env")
    assert resolve(AGENT_SETTINGS, cli={"secret": "from-cli"}, env=env).secret == Secret("from-cli")
    # click passes None for an option not given
    assert resolve(AGENT_SETTINGS, cli={"secret": None}, env=env).secret == Secret("from-env")


def test_an_empty_variable_counts_as_unset() -> None:
    assert resolve(AGENT_SETTINGS, env={"JOBSTREAMER_SECRET": ""}).secret is None


def test_the_process_environment_is_only_read_when_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBSTREAMER_SECRET", "ambient")
    assert resolve(AGENT_SETTINGS).secret is None


def test_values_are_converted() -> None:
    settings = resolve(
        AGENT_SETTINGS,
        cli={"port": "0", "max_executions": " 8 ", "interface": "::1", "data": "/tmp/x"},
    )
    assert (settings.port, settings.max_executions, settings.interface) == (0, 8, "::1")
    assert settings.data == Path("/tmp/x")


@pytest.mark.parametrize(
    ("table", "cli", "needle"),
    [
        (AGENT_SETTINGS, {"port": "http"}, "invalid --port 'http': expected a whole number"),
        (AGENT_SETTINGS, {"port": "70000"}, "invalid --port '70000': expected a port number"),
        (AGENT_SETTINGS, {"port": True}, "invalid --port"),
        (AGENT_SETTINGS, {"max_executions": "0"}, "invalid --max-executions '0'"),
        (AGENT_SETTINGS, {"interface": "eth0"}, "invalid --interface 'eth0': expected an IP address"),
        (AGENT_SETTINGS, {"control_bus": "ftp://bus/join"}, "invalid --control-bus"),
        (AGENT_SETTINGS, {"control_bus": "bus:45102"}, "invalid --control-bus"),
        (AGENT_SETTINGS, {"name": "  "}, "invalid --name"),
        (BUS_SETTINGS, {"host": "two words"}, "invalid --host"),
        (BUS_SETTINGS, {"tls_cert": "/nonexistent/cert.pem"}, "invalid --tls-cert"),
    ],
)
def test_bad_values_name_the_setting(table: tuple[Setting, ...], cli: dict[str, object], needle: str) -> None:
    with pytest.raises(SettingError) as caught:
        resolve(table, cli=cli)
    assert needle in caught.value.message
    assert caught.value.field == next(iter(cli))
    assert caught.value.status == 400


def test_a_bad_variable_is_named_but_a_secret_never_echoed() -> None:
    with pytest.raises(SettingError, match="invalid JOBSTREAMER_ADMIN_PASSWORD: expected a non-empty"):
        resolve(BUS_SETTINGS, env={"JOBSTREAMER_ADMIN_PASSWORD": "   "})
    with pytest.raises(SettingError) as caught:
        resolve(BUS_SETTINGS, cli={"secret": " \t "})
    assert caught.value.message == "invalid --secret: expected a non-empty value"


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("cert")
    key.write_text("key")
    with pytest.raises(SettingError, match="--tls-cert needs --tls-key"):
        resolve(BUS_SETTINGS, cli={"tls_cert": str(cert)})
    with pytest.raises(SettingError, match="--tls-key needs --tls-cert"):
        resolve(BUS_SETTINGS, cli={"tls_key": str(key)})
    settings = resolve(BUS_SETTINGS, cli={"tls_cert": str(cert), "tls_key": str(key)})
    assert (settings.tls_cert, settings.tls_key) == (cert, key)


def test_unknown_names_are_a_programming_error() -> None:
    with pytest.raises(TypeError, match="no such settings: colour"):
        resolve(AGENT_SETTINGS, cli={"colour": "red"})


def test_settings_are_read_only_and_hide_secrets() -> None:
    settings = resolve(BUS_SETTINGS, env={"JOBSTREAMER_SECRET": "hunter2-but-longer"})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings["port"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        settings.colour  # noqa: B018
    assert "hunter2" not in repr(settings) and "hunter2" not in str(dict(settings))
    assert settings.secret.reveal() == "hunter2-but-longer"
    assert dict(**settings)["port"] == 45102


def test_a_secret_is_never_pickled() -> None:
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(Secret("hunter2"))


@TABLES
def test_click_options_cover_the_table(table: tuple[Setting, ...]) -> None:
    seen: dict[str, object] = {}

    @click.command()
    @click_options(table)
    def command(**kwargs: object) -> None:
        seen.update(kwargs)

    runner = CliRunner()
    help_text = runner.invoke(command, ["--help"]).output
    flags = [s.flag for s in table]
    assert all(flag in help_text for flag in flags)
    assert [help_text.index(flag) for flag in flags] == sorted(help_text.index(flag) for flag in flags)
    assert "JOBSTREAMER_SECRET" in help_text

    result = runner.invoke(command, ["--port", "0"])
    assert result.exit_code == 0, result.output
    assert resolve(table, cli=seen).port == 0
    assert {name for name, value in seen.items() if value is not None} == {"port"}
