"""Helpers for tests/integration/test_other_clients.py: other clients, read twice.

Third-party clients (pika, Debian's amqp-tools) and a hand-written encoder run
against the live broker through a relay on a port of its own, captured with
tshark; each frame is then read by our decoder and byte map and by tshark's
dissector and compared field by field (capture.py, ours.py, dissect.py,
compare.py; the clients in clients.py, the hand encoder in encoder.py).
"""
