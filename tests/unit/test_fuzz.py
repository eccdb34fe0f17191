"""Property tests: no input makes the decoder or the byte map raise.

Whatever bytes arrive, in whatever chunks, the decoder yields frames and at most
one failure (last), and every frame it yields has a byte map that covers it
exactly once.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.protocol import DecodeFailure, Direction, Frame, FrameDecoder, byte_map
from tests.conftest import MUTATED_STREAMS, STREAMS

B2C = Direction.BROKER_TO_CLIENT


def check_stream(data: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder(B2C)
    items: list[Frame | DecodeFailure] = []
    previous = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        items += decoder.feed(data[previous:cut])
        previous = max(previous, cut)
    end = decoder.close()
    if end is not None:
        items.append(end)
    failures = [i for i in items if isinstance(i, DecodeFailure)]
    assert len(failures) <= 1
    assert not failures or items[-1] is failures[0]
    position = 0
    for item in items:
        assert item.offset == position
        if isinstance(item, Frame):
            position += item.size
            leaves = list(byte_map(item).leaves())
            assert sum(leaf.length for leaf in leaves) == item.size
            assert [leaf.offset for leaf in leaves] == sorted(
                leaf.offset for leaf in leaves
            )
    if not failures:  # no failure: every byte became part of a frame
        assert position == len(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.lists(st.integers(min_value=0), max_size=8))
def test_arbitrary_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    check_stream(data, cuts)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATED_STREAMS, st.lists(st.integers(min_value=0), max_size=8))
def test_mutated_captures_never_raise(data: bytes, cuts: list[int]) -> None:
    check_stream(data, cuts)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(STREAMS),
    st.integers(min_value=0),
    st.binary(min_size=1, max_size=16),
    st.booleans(),
)
def test_insertions_and_deletions_never_raise(
    stream: bytes, where: int, extra: bytes, delete: bool
) -> None:
    at = where % len(stream)
    data = (
        stream[:at] + stream[at + len(extra) :]
        if delete
        else stream[:at] + extra + stream[at:]
    )
    check_stream(data, [])
