"""The command line: `amqp-explorer` and its subcommands.

`main` parses the arguments and starts the app or a subcommand; `trace` is the
text and JSON front end that steps a connection without the app; `watch` is
the watch command's options and `watching` its printing runner; `several`
names each of several connections in trace's output (watch, a pcap's replay).
"""
