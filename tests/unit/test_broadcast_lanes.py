"""A broadcast's lanes: every member in exactly one, and a broadcast expanded before lanes
resumed from its cursor without a member sent twice or skipped."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from patron.backoffice.broadcasts import LANES, lane_bounds, lanes_from, message_id

ids = st.uuids()


def lanes_holding(member: uuid.UUID) -> list[int]:
    return [
        lane
        for lane in range(LANES)
        if uuid.UUID(lane_bounds(lane)[0]) < member <= uuid.UUID(lane_bounds(lane)[1])
    ]


@given(ids)
def test_every_member_but_the_nil_id_is_in_exactly_one_lane(member: uuid.UUID) -> None:
    if member.int == 0:  # no member has it (gen_random_uuid sets the version bits)
        assert lanes_holding(member) == []
    else:
        assert lanes_holding(member) == [int(member.hex[0], 16)]


def test_the_lanes_follow_one_another_without_a_gap() -> None:
    bounds = [lane_bounds(lane) for lane in range(LANES)]
    assert bounds[0][0] == str(uuid.UUID(int=0)) and bounds[-1][1] == str(uuid.UUID(int=2**128 - 1))
    assert all(bounds[lane][1] == bounds[lane + 1][0] for lane in range(LANES - 1))


@given(ids, st.one_of(st.none(), ids))
def test_a_broadcast_resumed_from_its_cursor_sends_exactly_the_members_after_it(
    member: uuid.UUID, cursor: uuid.UUID | None
) -> None:
    """A member is still to be sent by its lane exactly when the old cursor had not reached it."""
    if member.int == 0:
        return
    lane, lane_cursor, done = lanes_from(None if cursor is None else str(cursor))[lanes_holding(member)[0]]
    after = uuid.UUID(lane_cursor or lane_bounds(lane)[0])
    still_to_send = not done and member > after
    assert still_to_send == (cursor is None or member > cursor)


@given(ids, ids, ids)
def test_a_message_id_is_the_same_for_a_broadcast_and_member_and_differs_otherwise(
    broadcast: uuid.UUID, member: uuid.UUID, other: uuid.UUID
) -> None:
    same = message_id(str(broadcast), str(member))
    assert same == message_id(str(broadcast), str(member))
    assert (message_id(str(broadcast), str(other)) == same) == (other == member)


@given(ids, st.one_of(ids.map(str), st.text()))
def test_a_message_id_is_the_uuid5_of_the_broadcast_and_the_member(broadcast: uuid.UUID, member: str) -> None:
    # the ids made by hand are those that the standard library would make (and did, before)
    assert message_id(str(broadcast), member) == str(uuid.uuid5(broadcast, member))
    assert uuid.UUID(message_id(str(broadcast), member)).version == 5
