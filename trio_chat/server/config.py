"""Server configuration: one frozen dataclass whose defaults are the command line's defaults.

A TOML file (``--config``) may set any field by its config key (``port = 6697``, ``sendq = 4096``); options
given on the command line win over the file.  A config key is the name of the command-line flag that sets it with
``_`` for ``-`` (``--flood-limit``: ``flood_limit``), and otherwise the field's name; the two fields whose names
differ from their flags keep their old keys as aliases (:data:`KEY_ALIASES`).
"""

from __future__ import annotations

import difflib
import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FIELD_OF_KEY: Mapping[str, str] = MappingProxyType({"flood_limit": "flood_rate", "sendq": "sendq_lines"})
"""Config keys that differ from the field they set (the keys follow the flags ``--flood-limit`` and ``--sendq``)."""
KEY_ALIASES: Mapping[str, str] = MappingProxyType({field: key for key, field in FIELD_OF_KEY.items()})
"""Old config keys still accepted, and the key each is now spelt as: ``flood_rate`` and ``sendq_lines``."""
PORT_SETTINGS = ("port", "tls_port", "web_port")
"""Fields that hold a TCP port: 0 (any free port) or 1 to 65535."""
DEFAULT_PER_IP_EXEMPT = ("127.0.0.0/8", "::1/128")


class ConfigError(Exception):
    """A configuration file or value that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything the server can be told.  Limits have defaults a small team never hits."""

    host: str = "127.0.0.1"
    port: int = 6667
    plaintext: bool = True
    """Whether to listen for plaintext connections on ``port`` (``--no-plaintext`` for TLS only)."""
    tls_port: int | None = None
    """Port of the TLS listener (6697 by convention); none means no TLS."""
    tls_cert: str | None = None
    """PEM certificate chain for TLS; reloaded on SIGHUP."""
    tls_key: str | None = None
    """PEM private key for TLS; reloaded on SIGHUP."""
    web_port: int | None = None
    """Port of the web listener (the page at ``/`` and IRC over WebSocket); none means no web listener.  It
    serves HTTPS/WSS with the TLS certificate when ``tls_cert`` and ``tls_key`` are set."""
    web_origins: tuple[str, ...] = ()
    """Origins (``https://chat.example.org``) whose pages may open a WebSocket; empty: only the page's own origin
    (the request's ``Host``); ``*``: any."""
    web_proxies: tuple[str, ...] = ()
    """Address ranges (CIDR) of reverse proxies in front of ``web_port`` whose ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` are believed: a WebSocket through them has the browser's address (for the limits,
    K-lines and its host) and is secure when the browser's side was HTTPS.  Empty: the headers are ignored."""
    server_name: str = "trio-chat.local"
    network_name: str = "TrioChat"
    server_info: str = "trio-chat IRC server"
    """What LINKS says about this server (its description)."""
    motd: str | None = None
    """Path of the message-of-the-day file; none means 422 ERR_NOMOTD."""
    password: str | None = None
    """Connection password (PASS) when set."""
    log_level: str = "INFO"

    # Liveness (seconds).
    ping_interval: float = 90.0
    """A client silent for this long is sent a PING."""
    ping_timeout: float = 60.0
    """…and disconnected with ``ERROR :Ping timeout`` if nothing arrives this long after it."""
    registration_timeout: float = 60.0
    """A connection that has not completed NICK/USER (and CAP END) by then is dropped."""
    shutdown_grace: float = 2.0
    """On shutdown, how long connections get to flush their last lines."""

    # Queues.
    sendq_lines: int = 4096
    """Lines queued to one client before it counts as not reading (``ERROR :SendQ exceeded``)."""
    readq_bytes: int = 16384
    """Bytes of an unfinished line held before the peer is disconnected (``ERROR :ReadQ exceeded``)."""

    # Flood control (ergo-style fakelag): a burst, then a steady rate; lines beyond it wait.
    flood_burst: int = 5
    """Lines a registered client may send at once."""
    flood_rate: float = 2.0
    """Lines per second after the burst; 0 turns flood control off."""
    flood_max_backlog: int = 100
    """Lines received but still waiting their turn before the client is dropped with ``ERROR :Excess flood``."""

    # History (the store).
    db: str = "trio-chat.db"
    """Where history and channel state are kept: an SQLite file (created if missing), or ``:memory:`` for a store
    that lives only as long as the process."""
    history_replay: int = 50
    """Messages of a channel replayed to a client that joins it; 0 turns replay off."""
    chathistory_limit: int = 1000
    """Most messages one CHATHISTORY request returns (``CHATHISTORY`` in ISUPPORT)."""
    history_max_messages: int = 10_000
    """Retention: messages kept per channel, the newest; 0 = no limit.  A channel's replay never holds more."""
    history_max_days: float = 0.0
    """Retention: days a message is kept; 0 = forever."""
    history_prune_interval: float = 600.0
    """Seconds between two passes of retention in the background (the first runs at start-up)."""

    opers: tuple[tuple[str, str], ...] = ()
    """Operator accounts: name -> password hash from ``trio-chat hash-password`` (an ``[opers]`` table), or
    ``account:NAME``: whoever is logged in to account NAME may ``OPER name`` without a password."""

    # Accounts.
    tls_client_ca: str | None = None
    """PEM file of the certificate authorities whose client certificates the TLS listener accepts (requested,
    not required); their SHA-256 fingerprints log in with SASL EXTERNAL.  None: no client certificates."""
    password_hash_cost: int = 14
    """scrypt cost of new account passwords, as log2 of n (14: 16 MiB, tens of milliseconds).  Hashes of cost
    above 10 are computed in a worker thread; cheaper ones (tests) inline."""
    password_min_length: int = 6
    """Shortest password an account may have (``WEAK_PASSWORD`` below it)."""
    password_max_length: int = 300
    """Longest password, in bytes of UTF-8: it must fit in a PRIVMSG to NickServ."""
    registration_before_connect: bool = True
    """Whether ``REGISTER`` is accepted before connection registration is complete (``before-connect``)."""
    nick_grace: float = 30.0
    """Seconds someone not logged in may keep a nick that belongs to an account before being renamed to a
    guest nick."""
    login_failures_burst: int = 5
    """Failed logins (SASL, IDENTIFY, PASSWD) allowed at once per account and per address…"""
    login_failures_per_minute: float = 3.0
    """…then this many per minute; beyond that, logins are refused until the bucket refills.  0: no limit."""

    # KNOCK rate limits (712 ERR_TOOMANYKNOCK); 0 means no limit.
    knock_interval: float = 60.0
    """Seconds between two KNOCKs of one user on one channel (Solanum's ``knock_delay`` is 5 minutes)."""
    knock_channel_interval: float = 10.0
    """Seconds between two KNOCKs delivered to one channel, whoever knocks: clones cannot flood its operators
    (Solanum's ``knock_delay_channel`` is 60 s)."""

    # Several nodes, one network (``cluster/``).
    redis_url: str | None = None
    """``redis://HOST:PORT/DB`` of the Redis the network lives in; None: a single node, no Redis needed."""
    node_timeout: float = 15.0
    """Seconds after a node's last heartbeat before the others take its users off the network (``*.net *.split``);
    heartbeats are sent every third of it."""
    snapshot_interval: float = 60.0
    """Seconds between two snapshots of the network state in Redis (the log behind it is then trimmed)."""
    channel_stream_length: int = 10_000
    """Messages each channel's stream keeps in Redis (approximately); a node that falls further behind
    resynchronises."""

    # Connection limits; 0 means no limit.
    max_clients: int = 4096
    """Connections in all, registered or not (``ERROR :Server is full``)."""
    max_per_ip: int = 256
    """Connections from one address (``ERROR :Too many connections from your address``)."""
    max_per_ip_exempt: tuple[str, ...] = DEFAULT_PER_IP_EXEMPT
    """Address ranges (CIDR) that ``max_per_ip`` does not limit: loopback by default, as in ergo."""

    # Protocol limits, announced in ISUPPORT.
    nicklen: int = 30
    channellen: int = 50
    topiclen: int = 390
    kicklen: int = 255
    awaylen: int = 200
    userlen: int = 18
    max_targets: int = 4
    """Targets per PRIVMSG/NOTICE/TAGMSG (TARGMAX, MAXTARGETS)."""
    chanlimit: int = 100
    """Channels one user may be in (CHANLIMIT)."""
    maxlist: int = 100
    """Bans per channel (MAXLIST)."""
    modes_per_command: int = 4
    """Mode changes with a parameter per MODE command (MODES)."""
    whowas_size: int = 500
    """Departed nicks remembered for WHOWAS."""
    monitor_limit: int = 100
    """Nicks one client may MONITOR (``MONITOR`` in ISUPPORT)."""
    namelen: int = 150
    """Longest realname, from USER or SETNAME (NAMELEN)."""
    multiline_max_bytes: int = 4096
    """Most bytes of text in one ``draft/multiline`` message (each line break counts one), advertised in its
    CAP value as ``max-bytes``."""
    multiline_max_lines: int = 100
    """Most lines in one ``draft/multiline`` message (``max-lines``)."""

    # IRCv3 metadata (draft/metadata-3), announced in the capability's value.
    metadata_max_keys: int = 20
    """Metadata keys one user or one channel may have set (``LIMIT_REACHED`` beyond)."""
    metadata_max_value_bytes: int = 256
    """Longest metadata value, in bytes of UTF-8 (``INVALID_VALUE`` beyond); at most 300, so that a value with
    its key, target and nick fits on one 512-byte line."""
    metadata_max_subs: int = 50
    """Metadata keys one client may subscribe to (``TOO_MANY_SUBS`` beyond)."""

    def __post_init__(self) -> None:
        for name in PORT_SETTINGS:
            port = getattr(self, name)
            if port is not None and not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be from 1 to 65535 (or 0 for any free port), not {port}")
        self.exempt_networks()  # these raise ConfigError for a range that is not one
        self.proxy_networks()
        # Checked here, once: a bad value found by the retention task would otherwise end the server later.
        # The upper bounds only keep the numbers inside what SQLite integers hold.
        if not 0 <= self.history_max_messages <= 2**53:
            raise ConfigError("history_max_messages must be 0 (no limit) or more, and at most 2**53")
        if not 0 <= self.history_max_days <= 1_000_000:  # also refuses NaN and infinity
            raise ConfigError("history_max_days must be 0 (keep forever) or more, and at most 1000000")
        if not self.history_prune_interval > 0:
            raise ConfigError("history_prune_interval must be more than 0 seconds")
        if not 1 <= self.password_hash_cost <= 20:
            raise ConfigError("password_hash_cost must be between 1 and 20 (log2 of scrypt's n)")
        if not self.nick_grace >= 0:
            raise ConfigError("nick_grace must be 0 seconds or more")
        for name in ("knock_interval", "knock_channel_interval"):
            if not 0 <= getattr(self, name) <= 86_400:  # also refuses NaN and infinity
                raise ConfigError(f"{name} must be from 0 (no limit) to 86400 seconds")
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"redis_url must look like redis://HOST:PORT/DB, not {self.redis_url!r}")
        if not self.node_timeout >= 1:
            raise ConfigError("node_timeout must be 1 second or more")
        if not self.snapshot_interval > 0:
            raise ConfigError("snapshot_interval must be more than 0 seconds")
        # A multiline message reaches each recipient as its lines and two BATCH lines, all queued at once: keep
        # multiline_max_lines well below sendq (README).
        if not 1 <= self.multiline_max_bytes <= 1_000_000:
            raise ConfigError("multiline_max_bytes must be from 1 to 1000000")
        if not 1 <= self.multiline_max_lines <= 10_000:
            raise ConfigError("multiline_max_lines must be from 1 to 10000")
        if not self.channel_stream_length >= 100:
            raise ConfigError("channel_stream_length must be 100 or more")
        if not 1 <= self.metadata_max_keys <= 1000:
            raise ConfigError("metadata_max_keys must be from 1 to 1000")
        if not 1 <= self.metadata_max_value_bytes <= 300:
            raise ConfigError("metadata_max_value_bytes must be from 1 to 300 (a value must fit on one line)")
        if not 1 <= self.metadata_max_subs <= 1000:
            raise ConfigError("metadata_max_subs must be from 1 to 1000")

    def exempt_networks(self) -> tuple[IPNetwork, ...]:
        """``max_per_ip_exempt`` parsed; a range that is not one is a :class:`ConfigError`."""
        return _networks("max_per_ip_exempt", self.max_per_ip_exempt)

    def proxy_networks(self) -> tuple[IPNetwork, ...]:
        """``web_proxies`` parsed; a range that is not one is a :class:`ConfigError`."""
        return _networks("web_proxies", self.web_proxies)

    def merged(self, values: Mapping[str, Any], *, origin: str | None = None) -> ServerConfig:
        """A copy with ``values`` (by config key, ``-`` or ``_``) applied; unknown keys, values of the wrong type
        and values out of range raise :class:`ConfigError`, prefixed with ``origin`` (``config file x.toml``)."""
        try:
            return self._merged(values)
        except ConfigError as exc:
            if origin is None:
                raise
            raise ConfigError(f"{origin}: {exc}") from None

    def _merged(self, values: Mapping[str, Any]) -> ServerConfig:
        known = {f.name: str(f.type) for f in fields(self)}
        changes: dict[str, Any] = {}
        given: dict[str, str] = {}
        for name, value in values.items():
            key = name.replace("-", "_")
            target = FIELD_OF_KEY.get(key, key)
            if target not in known:
                raise ConfigError(f"unknown setting {name!r}{_suggestion(key)}")
            if target in given:
                raise ConfigError(f"setting {name!r} is given twice (also as {given[target]!r})")
            given[target] = name
            changes[target] = _coerce(name, known[target], value)
        return replace(self, **changes)


def config_keys() -> list[str]:
    """Every config key, as the README spells it (without the old aliases)."""
    return [KEY_ALIASES.get(f.name, f.name) for f in fields(ServerConfig)]


def _suggestion(key: str) -> str:
    close = difflib.get_close_matches(key, config_keys(), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(name: str, annotation: str, value: Any) -> Any:
    """Check ``value`` against a field's annotation (as written: ``int``, ``float``, ``str | None``…)."""
    kinds = {part.strip() for part in annotation.split("|")}
    if "bool" in kinds:
        if isinstance(value, bool):
            return value
        wanted = "true or false"
    elif "int" in kinds:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        wanted = "a whole number"
    elif "float" in kinds:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        wanted = "a number"
    elif "str" in kinds:
        if isinstance(value, str):
            return value
        wanted = "a string"
    elif annotation == "tuple[str, ...]":
        # A TOML list of strings, or one string of comma-separated items (as the command line takes them).
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, list | tuple) and all(isinstance(item, str) for item in items):
            return tuple(item.strip() for item in items if item.strip())
        wanted = "a list of strings"
    elif annotation.startswith("tuple[tuple[str, str]"):
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return tuple(sorted(value.items()))
        wanted = "a table of names to strings"
    else:  # pragma: no cover - a field type this function does not know is a programming error
        raise TypeError(f"cannot check setting {name!r} of type {annotation}")
    raise ConfigError(f"setting {name!r} wants {wanted}, not {value!r}")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict of settings; a missing or malformed file is a :class:`ConfigError`."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    # Accept both a flat file and one with a [server] table; [opers] is a table of its own.
    server = data.pop("server", {})
    if not isinstance(server, dict):
        raise ConfigError(f"config file {path}: [server] must be a table")
    return {**data, **server}


def _networks(setting: str, texts: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for text in texts:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"{setting}: {text!r} is not an address range (CIDR, like 10.0.0.0/8 or fd00::/8)"
            ) from None
    return tuple(networks)
