"""Experiments: the failure lab and the topic lessons' experiments.

`registry` names every experiment and makes the Engine that runs one;
`failures` and `topics` hold the scenarios, `faults` the steps they replace,
`experiment` what an experiment is and how its outcome is read from the wire,
and `broker` the broker's own tools (rabbitmqctl, its log). Importing the
package loads none of them, so a command that only sweeps stays light.
"""
