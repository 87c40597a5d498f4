"""Several nodes, one network: the replicated log, message streams, heartbeats and snapshots in Redis.

The only package that imports coredis (an optional extra: ``pip install 'trio-chat[cluster]'``); nothing here
runs without ``--redis``, and the core (state, handlers, sessions) never imports it: it hangs off the seam
``Network.cluster`` (``state.Cluster``).
"""

from __future__ import annotations


def coredis_missing() -> str | None:
    """Why cluster mode cannot run here (coredis is not installed), or None if it can."""
    try:
        import coredis  # noqa: F401
    except ImportError:
        return "--redis needs the cluster extra: pip install 'trio-chat[cluster]' (it brings coredis)"
    return None
