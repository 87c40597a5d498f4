"""The IRC server: state first, I/O last.

* ``state``, ``commands``, ``handlers/``: the synchronous core; a command changes the state in one step, with no
  ``await`` inside it, so commands are atomic with respect to each other.  NickServ and ChanServ are handlers too.
* ``session``, ``outbound``, ``response``, ``relay``, ``flood``: a connection's nursery (reader, writer,
  keepalive), the bounded SendQs and the flusher that drains them, what an answer gets on its way out
  (server-time, labeled-response), a message serialised once for all its recipients, and flood control.
* ``store/``: history, accounts and persisted channels on SQLite behind the interfaces of ``history`` and
  ``accounts``; the only package that imports sqlite3.
* ``cluster/``: several nodes, one network, over Redis; the only package that imports coredis.
* ``web/``: the web client and IRC over WebSocket; the only package that imports hypercorn and starlette.
* ``app``: wires the listeners, the store, the cluster and the web listener together; ``config`` is its one
  dataclass.

The core never imports ``store/``, ``cluster/`` or ``web/``: they hang off seams it defines.  Nothing here
imports the client or the terminal UI.
"""
