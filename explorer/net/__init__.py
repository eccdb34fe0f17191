"""Everything that touches sockets.

`endpoint` reads the URL, `connect` resolves and opens TCP, `tap` watches and
holds aiormq's transport, `client` is aiormq's Connection as the explorer
offers it, `raw` the pamqp client for frames aiormq cannot send, `proxy`
relays any application's connection to the broker for `watch`, and `amqp10`
drives Qpid Proton's AMQP 1.0 engine through the tap (issue 15, not yet wired).
"""
