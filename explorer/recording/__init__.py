"""Recordings: what a connection did, kept in a file and played back.

`capture` owns the file format (chunks, redactions, events), `journal` writes
it while a connection runs, `recorder` runs one to a file, `eventlog` turns
engine events into records and back, `replay` steps a recording like a live
connection, and `pcap` exports one for Wireshark and tshark. `sniffed` opens
pcap and pcapng files (`packetfile` walks their records, `tcpflow` reassembles
each TCP direction) as one capture per AMQP connection, and `relayed` keeps a
watched connection as a capture. `model` is what a capture holds. `bundled`
holds the recordings shipped with the package.
"""
