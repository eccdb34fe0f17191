"""Experiments: the failure lab and the topic lessons' experiments.

`registry` names every experiment and makes the Engine that runs one;
`failures` and `topics` hold the scenarios, `faults` the steps they replace,
`experiment` what an experiment is and how its outcome is read from the wire,
`lazy` the lazy client held at four stages, and `broker` the broker's own tools
(rabbitmqctl, its log). `brokerview` asks the broker what it recorded of one
connection (rabbitmqctl or the management API; `brokerrows` reads both
answers), and `viewdiff` sets that beside the frames, rule by rule. Importing the
package loads none of them, so a command that only sweeps stays light.
"""
