"""Soak test for the trio-chat server: thousands of clients connect, join, talk, misbehave and leave.

Not part of the unit tests: a program that prints its figures and exits 0 when every check passed, 1 otherwise.
From the repository's root::

    .venv/bin/python -m benchmarks.soak [--clients 2000] [--duration 60] [--waves 3] [--seed N]

What it does, in order (every phase has a time limit, so the whole run ends by itself):

1. Writes a TOML config to a temporary directory (an operator account, no connection limits, the default flood
   control of 5 lines then 2 lines/s, ``sendq = 512``, ``registration_timeout = 20``) and starts
   ``trio-chat serve --port 0`` on 127.0.0.1; the port comes from the server's first log line, and a thread keeps
   draining its stderr.
2. A monitor connection registers, becomes operator and reads ``STATS z`` (the baseline).
3. Clients connect and register in batches (the listen backlog is never overrun), then the well-behaved ones join
   1-3 of the channels; everyone waits until every well-behaved client has seen its own JOIN (a barrier).
4. Talk phase (``--duration`` seconds): well-behaved clients send one PRIVMSG every ``--interval`` seconds or so
   (well under the flood limit); some leave a channel and come back, or quit and reconnect, midway.  The
   misbehavers do their thing: flooders, garbage senders, non-readers, slowloris connections, abrupt disconnects.
5. A quiet drain, then everyone still connected QUITs; the monitor polls ``STATS z`` until only it is left.
   Steps 3-5 repeat for each of ``--waves`` waves on the same server.
6. Checks: every message a well-behaved client sent to a channel reached every stable well-behaved member of that
   channel exactly once and in order; every misbehaver got the answer it deserved; the server's connections,
   users, channels, memberships and tasks are back to the baseline and its memory does not grow from wave to
   wave; the server exits 0 on SIGTERM and logged no traceback.

The modules, in the order a run uses them:

* :mod:`.cli`: the command line and the run from start to end;
* :mod:`.server`: the server process (config, start on port 0, its log, stop by PID);
* :mod:`.plan`: the kinds of client and their mix, and the settings;
* :mod:`.clients`: what a wave shares, and the connections (each one a :class:`tests.ircclient.IRCClient`);
* :mod:`.behaviours`: what each kind does, and how each misbehaver judges the server's answer;
* :mod:`.waves`: the phases of a wave and the ``STATS z`` monitor;
* :mod:`.judge`: deliveries, baselines and leaks turned into checks;
* :mod:`.report`: the printed report.
"""
