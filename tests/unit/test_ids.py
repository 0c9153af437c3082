import time
import uuid

from ladder.ids import time_ordered_id, time_ordered_ids


def test_a_block_of_ids_is_ascending_version_7_with_this_milliseconds_time():
    before = time.time_ns() // 1_000_000
    ids = list(time_ordered_ids(100_000))
    after = time.time_ns() // 1_000_000
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {uuid.RFC_4122}
    assert before <= ids[0].int >> 80 == ids[-1].int >> 80 <= after
    # As text too (what COPY writes and indexes compare as uuid): the same order.
    assert [str(i) for i in ids] == sorted(str(i) for i in ids)


def test_ids_drawn_later_sort_after_earlier_ones():
    first = time_ordered_id()
    time.sleep(0.002)
    assert time_ordered_id() > first
    assert len({time_ordered_id() for _ in range(10_000)}) == 10_000
