"""The lifecycle engine: a live aiormq connection, stepped one phase at a time.

`core` owns the Engine (stepping, waiting, the wire); `reaching`, `handshake`
and `session` own what each phase does; `events` owns what the engine tells
its listener, which a replay tells in the same words. No Textual in this
package, and importing it loads none of its modules: `events` is read by
replays and checks that never open a socket.
"""
