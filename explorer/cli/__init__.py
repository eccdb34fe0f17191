"""The command line: `amqp-explorer` and its subcommands.

`main` parses the arguments and starts the app or a subcommand; `trace` is the
text and JSON front end that steps a connection without the app.
"""
