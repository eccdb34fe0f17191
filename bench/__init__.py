"""Benchmarks for amqp-explorer; run them with ``python -m bench``.

Owns nothing but the package: bench.decode (decoder and byte-map speed, no
broker), bench.tap (tap overhead on a live broker), bench.app (the explorer app
headless: a 100k-frame flood and startup), bench.cli (commands in fresh
interpreters), bench.watch (the watch proxy per round trip), bench.pcap (a
pcap read against tshark), bench.report (formatting).
"""
