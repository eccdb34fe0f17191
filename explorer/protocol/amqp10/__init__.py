"""AMQP 1.0 beside 0-9-1: the sans-I/O core of OASIS AMQP 1.0.

`decoder.Amqp10Decoder`, fed one direction's bytes in any chunking, yields the
protocol headers, the SASL frames and the AMQP frames as explorer.protocol's
`Frame`, each named by the spec's performative with its fields decoded;
`bytemap.byte_map` maps every byte of one down to the type system's
constructors; `secrets.secrets_in` finds the password of a SASL exchange;
`lifecycle` holds the 1.0 phase rules. explorer.protocol's `byte_map`,
`secrets_in` and `shown` hand a 1.0 frame to these, so the layers above see
one Frame. The modules are imported by name, not re-exported here: 0-9-1's
byte map and secrets import them. Nothing here imports asyncio, socket, ssl
or Textual.
"""
