"""ServerConfig's own checks: port ranges, config keys and their old aliases, the per-address exempt list."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from trio_chat.cli import SERVE_OPTIONS, build_parser, server_config
from trio_chat.server.config import KEY_ALIASES, PORT_SETTINGS, ConfigError, ServerConfig, config_keys


@pytest.mark.parametrize("name", PORT_SETTINGS)
@pytest.mark.parametrize("port", [-1, 65536, 70000, 2**31])
def test_a_port_out_of_range_is_refused_naming_the_setting_and_value(name: str, port: int) -> None:
    with pytest.raises(ConfigError, match=rf"^{name} must be from 1 to 65535 \(or 0 for any free port\), not {port}$"):
        ServerConfig().merged({name: port})
    with pytest.raises(ConfigError, match=rf"^{name} must be"):
        changes: dict[str, Any] = {name: port}
        replace(ServerConfig(), **changes)


@pytest.mark.parametrize("name", PORT_SETTINGS)
@pytest.mark.parametrize("port", [0, 1, 6667, 65535])
def test_ports_in_range_and_zero_are_accepted(name: str, port: int) -> None:
    assert getattr(ServerConfig().merged({name: port}), name) == port


def test_every_port_field_is_checked() -> None:
    """A new ``*_port`` field must be added to PORT_SETTINGS (and so be range-checked)."""
    assert {key for key in config_keys() if key == "port" or key.endswith("_port")} == set(PORT_SETTINGS)


def test_every_flag_sets_the_config_key_of_its_own_name() -> None:
    keys = set(config_keys())
    for flag, dest, _kind, _text in SERVE_OPTIONS:
        assert dest == flag.removeprefix("--").replace("-", "_")
        assert dest in keys


@pytest.mark.parametrize(
    ("key", "old", "field", "value"),
    [("flood_limit", "flood_rate", "flood_rate", 0.0), ("sendq", "sendq_lines", "sendq_lines", 512)],
)
def test_new_keys_and_their_old_aliases_set_the_same_field(key: str, old: str, field: str, value: Any) -> None:
    assert KEY_ALIASES[old] == key
    assert getattr(ServerConfig().merged({key: value}), field) == value
    assert getattr(ServerConfig().merged({old: value}), field) == value
    assert getattr(ServerConfig().merged({key.replace("_", "-"): value}), field) == value
    with pytest.raises(ConfigError, match="given twice"):
        ServerConfig().merged({key: value, old: value})


def test_flood_limit_zero_is_accepted() -> None:
    assert ServerConfig().merged({"flood_limit": 0}).flood_rate == 0.0


@pytest.mark.parametrize(
    ("key", "hint"),
    [("flood_limt", "flood_limit"), ("sendq_line", "sendq"), ("max_per_ip_exmpt", "max_per_ip_exempt")],
)
def test_an_unknown_key_names_the_closest_known_one(key: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=rf"^unknown setting '{key}' \(did you mean '{hint}'\?\)$"):
        ServerConfig().merged({key: 1})


def test_an_unknown_key_with_nothing_close_has_no_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"^unknown setting 'zzzzzzzz'$"):
        ServerConfig().merged({"zzzzzzzz": 1})


def test_origin_prefixes_every_error() -> None:
    with pytest.raises(ConfigError, match=r"^config file chat\.toml: port must be"):
        ServerConfig().merged({"port": 70000}, origin="config file chat.toml")
    with pytest.raises(ConfigError, match=r"^config file chat\.toml: setting 'port' wants a whole number"):
        ServerConfig().merged({"port": "x"}, origin="config file chat.toml")


def test_loopback_is_exempt_by_default() -> None:
    assert ServerConfig().exempt_networks() == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["10.0.0.0/8", "fd00::/8"], ("10.0.0.0/8", "fd00::/8")),
        ("10.0.0.0/8, 192.168.1.7", ("10.0.0.0/8", "192.168.1.7")),
        ([], ()),
        ("", ()),
    ],
)
def test_exempt_ranges_from_a_list_or_a_comma_separated_string(value: Any, expected: tuple[str, ...]) -> None:
    config = ServerConfig().merged({"max_per_ip_exempt": value})
    assert config.max_per_ip_exempt == expected
    assert config.exempt_networks() == tuple(ipaddress.ip_network(e, strict=False) for e in expected)


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "localhost", "::1/129", "1.2.3"])
def test_an_invalid_range_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match=rf"^max_per_ip_exempt: '{bad}' is not an address range"):
        ServerConfig().merged({"max_per_ip_exempt": ["127.0.0.0/8", bad]})


def test_exempt_ranges_must_be_strings() -> None:
    with pytest.raises(ConfigError, match="wants a list of strings"):
        ServerConfig().merged({"max_per_ip_exempt": [1, 2]})


def test_exempt_flag_is_repeatable_and_comma_separated() -> None:
    args = build_parser().parse_args(
        ["serve", "--max-per-ip-exempt", "10.0.0.0/8,fd00::/8", "--max-per-ip-exempt", "192.168.0.0/16"]
    )
    assert server_config(args).max_per_ip_exempt == ("10.0.0.0/8", "fd00::/8", "192.168.0.0/16")
    none = build_parser().parse_args(["serve", "--max-per-ip-exempt", ""])
    assert server_config(none).max_per_ip_exempt == ()


def test_config_file_with_new_and_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "chat.toml"
    path.write_text('flood_limit = 0\nsendq_lines = 100\n[server]\nmax_per_ip_exempt = ["10.0.0.0/8"]\n')
    config = server_config(build_parser().parse_args(["serve", "--config", str(path), "--sendq", "200"]))
    assert (config.flood_rate, config.sendq_lines, config.max_per_ip_exempt) == (0.0, 200, ("10.0.0.0/8",))
