"""Tokens (API.md, "Secrets"): JOBSTREAMER_TOKEN, else a saved one, else a login."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from jobstreamer.common.cli._config import TokenFile, config_dir
from jobstreamer.common.edn import Keyword

from ._fake_bus import PASSWORD, TOKEN, FakeBus
from .conftest import Invoke


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_login_saves_a_private_token_under_xdg_config_home(
    jobstreamer: Invoke, bus: FakeBus, config_home: Path
) -> None:
    result = jobstreamer("login")
    assert result.exit_code == 0, result.output
    saved = config_home / "jobstreamer" / "tokens.edn"
    assert _mode(saved) == 0o600
    assert _mode(saved.parent) == 0o700
    assert TokenFile(saved).get(bus.url) == TOKEN
    assert TOKEN not in result.output  # the token is a credential too
    [auth] = bus.requests("POST", "/auth")
    assert auth.data() == {Keyword("user/id"): "admin", Keyword("user/password"): PASSWORD}


def test_login_asks_for_the_password_when_no_variable_gives_it(jobstreamer: Invoke, bus: FakeBus) -> None:
    result = jobstreamer("login", "--user", "ops", input=PASSWORD + "\n", JOBSTREAMER_PASSWORD=None)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    [auth] = bus.requests("POST", "/auth")
    assert auth.data()[Keyword("user/id")] == "ops"


def test_a_saved_token_is_used_without_logging_in(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.reply("GET", "/agents", [])
    jobstreamer("login")
    result = jobstreamer("agents", JOBSTREAMER_PASSWORD=None)
    assert result.exit_code == 0, result.output
    assert len(bus.requests("POST", "/auth")) == 1  # the login's only
    assert bus.requests("GET", "/agents")[0].headers["Authorization"] == f"Token {TOKEN}"


def test_an_expired_saved_token_is_replaced_by_a_login(jobstreamer: Invoke, bus: FakeBus, config_home: Path) -> None:
    bus.reply("GET", "/agents", [])
    TokenFile(config_home / "jobstreamer" / "tokens.edn").save(bus.url, "expired")
    result = jobstreamer("agents")
    assert result.exit_code == 0, result.output
    assert [s.headers["Authorization"] for s in bus.requests("GET", "/agents")] == [
        "Token expired",
        f"Token {TOKEN}",
    ]


def test_the_token_variable_wins_and_is_never_replaced(jobstreamer: Invoke, bus: FakeBus) -> None:
    result = jobstreamer("agents", JOBSTREAMER_TOKEN="revoked")
    assert result.exit_code == 1
    assert "refused the token" in result.stderr
    assert not bus.requests("POST", "/auth")


def test_the_user_and_the_admin_password_fallback(jobstreamer: Invoke, bus: FakeBus) -> None:
    bus.reply("GET", "/agents", [])
    result = jobstreamer("agents", JOBSTREAMER_PASSWORD=None, JOBSTREAMER_ADMIN_PASSWORD=PASSWORD,
                         JOBSTREAMER_USER="ops")
    assert result.exit_code == 0, result.output
    [auth] = bus.requests("POST", "/auth")
    assert auth.data() == {Keyword("user/id"): "ops", Keyword("user/password"): PASSWORD}


def test_tokens_are_kept_per_bus(tmp_path: Path) -> None:
    tokens = TokenFile(tmp_path / "tokens.edn")
    tokens.save("http://a:1", "ta")
    tokens.save("http://b:2", "tb")
    assert (tokens.get("http://a:1"), tokens.get("http://b:2"), tokens.get("http://c:3")) == ("ta", "tb", None)


def test_a_damaged_token_file_counts_as_none(tmp_path: Path) -> None:
    path = tmp_path / "tokens.edn"
    path.write_text("{unclosed")
    assert TokenFile(path).get("http://a:1") is None
    TokenFile(path).save("http://a:1", "t")
    assert TokenFile(path).get("http://a:1") == "t"


@pytest.mark.parametrize("xdg", ["", "relative/dir"])
def test_without_a_usable_xdg_config_home_tokens_go_to_dot_config(
    xdg: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_dir({"XDG_CONFIG_HOME": xdg}) == tmp_path / ".config" / "jobstreamer"
