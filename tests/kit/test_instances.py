"""Instance selection: fewest outstanding first, ties in turn, ejected ones last."""

from __future__ import annotations

import time

import pytest

from shop.kit.instances import Instances

A, B, C = "http://a", "http://b", "http://c"


def firsts(instances: Instances, times: int) -> list[str]:
    return [instances.order()[0] for _ in range(times)]


def test_without_leases_the_instances_take_turns() -> None:
    instances = Instances([A, B, C])
    assert [instances.order() for _ in range(4)] == [
        [A, B, C],
        [B, C, A],
        [C, A, B],
        [A, B, C],
    ]


def test_urls_are_base_urls_each_listed_once() -> None:
    instances = Instances(["http://a/", B, "http://a", C + "/"])
    assert instances.urls == [A, B, C]
    with pytest.raises(ValueError, match="at least one"):
        Instances([])


def test_the_fewest_outstanding_go_first_and_equals_take_turns() -> None:
    instances = Instances([A, B, C])
    first, second = instances.lease(A), instances.lease(A)
    third = instances.lease(B)
    assert instances.order() == [C, B, A]
    first.release()
    first.release()  # released once, whatever the number of calls
    assert instances.outstanding(A) == 1
    # A and B have one each: C first, then A and B in turn.
    assert {tuple(instances.order()) for _ in range(2)} == {(C, A, B), (C, B, A)}
    second.release()
    third.release()
    assert [instances.outstanding(url) for url in instances.urls] == [0, 0, 0]


def test_the_available_instances_share_the_turns_evenly() -> None:
    instances = Instances([A, B, C], eject_seconds=60)
    assert instances.eject(A) is True
    assert firsts(instances, 4) == [B, C, B, C]
    assert {instances.order()[-1] for _ in range(3)} == {A}


def test_ejected_instances_go_last_however_loaded_the_others() -> None:
    instances = Instances([A, B], eject_seconds=60)
    instances.eject(A)
    leases = [instances.lease(B) for _ in range(5)]
    assert instances.order() == [B, A]
    for lease in leases:
        lease.release()


def test_ejected_instances_are_tried_soonest_back_first() -> None:
    instances = Instances([A, B, C], eject_seconds=60)
    instances.eject(C)
    instances.eject(A)  # later, so back later
    assert [instances.order() for _ in range(3)] == [[B, C, A]] * 3
    instances.eject(B)  # all ejected: all still tried
    assert [instances.order() for _ in range(3)] == [[C, A, B]] * 3


def test_an_unhealthy_instance_comes_after_those_back_at_a_known_time() -> None:
    instances = Instances([A, B, C], eject_seconds=60, unhealthy_after=1)
    instances.check_failed(A)  # back once a check passes, whenever that is
    instances.eject(B)
    assert [instances.order()[1:] for _ in range(2)] == [[B, A]] * 2
    instances.check_failed(C)
    # Two unhealthy ones: equals, in turn.
    assert {tuple(instances.order()[1:]) for _ in range(2)} == {(A, C), (C, A)}


def test_a_passive_ejection_ends_after_its_time_or_when_restored() -> None:
    instances = Instances([A, B], eject_seconds=0.2)
    assert instances.eject(A) is True
    assert instances.eject(A) is False  # already out: a longer cool-down, no news
    assert instances.ejected() == [A]
    assert not instances.is_available(A)
    time.sleep(0.25)
    assert instances.ejected() == []
    assert instances.is_available(A)
    instances.eject(B)
    instances.restore(B)
    assert instances.ejected() == []


def test_errors_in_a_row_eject_and_an_answer_ends_the_run() -> None:
    instances = Instances([A, B], eject_seconds=60, eject_after_errors=3)
    assert [instances.request_failed(A) for _ in range(2)] == [False, False]
    instances.restore(A)  # it answered: the run starts over
    assert [instances.request_failed(A) for _ in range(2)] == [False, False]
    assert instances.ejected() == []
    assert instances.request_failed(A) is True
    assert instances.ejected() == [A]
    assert instances.order()[-1] == A


def test_failed_checks_in_a_row_eject_until_one_passes() -> None:
    instances = Instances([A, B], unhealthy_after=2)
    assert instances.check_failed(A) is False
    assert instances.check_passed(A) is False  # one failure is forgiven
    assert [instances.check_failed(A) for _ in range(3)] == [False, True, False]
    assert instances.ejected() == [A]
    assert instances.check_passed(A) is True
    assert instances.ejected() == []


def test_a_passing_check_ends_a_cool_down_only_after_a_failed_one() -> None:
    instances = Instances([A, B], eject_seconds=60)
    instances.eject(A)
    assert instances.check_passed(A) is False  # fails traffic, passes checks: waits
    assert instances.ejected() == [A]
    instances.check_failed(A)
    assert instances.check_passed(A) is True  # seen down, then up: restarted
    assert instances.ejected() == []


def test_new_urls_replace_the_instances_and_the_kept_ones_keep_their_state() -> None:
    instances = Instances([A, B], eject_seconds=60)
    instances.eject(A)
    lease = instances.lease(B)
    instances.urls = [B, C]
    assert instances.urls == [B, C]
    assert instances.ejected() == []
    assert instances.outstanding(B) == 1
    lease.release()
    assert instances.outstanding(B) == 0
    old = Instances([A])
    gone = old.lease(A)
    old.urls = [B]
    gone.release()  # an instance no longer listed: nothing to count
    assert old.outstanding(B) == 0
    with pytest.raises(ValueError, match="at least one"):
        instances.urls = []
