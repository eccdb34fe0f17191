"""The lifecycle engine: a live aiormq connection, stepped one phase at a time.

`core` owns the Engine (stepping, waiting, telling events) and runs the step
table it is given (`steps`); `reaching`, `handshake` and `session` own what each
phase does; `wire` reads the tap's events into frames, phases and faults;
`framelog` answers what the frames showed; `diagnosis` words stalls and
failures; `experiment` types what an experiment may change; `events` owns what
the engine tells its listener, which a replay tells in the same words.
`inference` reads the phases of a connection the explorer did not make from its
frames alone (a bare capture, a pcap, a watched client), with the same table,
and `watched` steps an application's connection relayed by `watch`. No
Textual in this package, and importing it loads none of its modules: `events`
is read by replays and checks that never open a socket.
"""
