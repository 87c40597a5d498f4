"""Several nodes, one network: the replicated log, message streams, heartbeats and snapshots in Redis.

The only package that imports coredis (an optional extra: ``pip install 'trio-chat[cluster]'``); nothing here
runs without ``--redis``.
"""
