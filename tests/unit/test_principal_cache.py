"""The in-process cache of API keys' principals: never serves what a change made stale."""

from __future__ import annotations

from patron.tenants.cache import PrincipalCache
from patron.tenants.store import Principal


def principal(tenant_id: int, version: int = 1) -> Principal:
    return Principal(
        tenant_id=tenant_id,
        slug=f"t{tenant_id}",
        role="pos",
        key_id="k",
        settings={},
        version=version,
        campaigns_version=1,
    )


def live_cache() -> PrincipalCache:
    cache = PrincipalCache()
    cache._live = True  # as when its listener is connected
    return cache


def test_nothing_is_cached_while_not_listening() -> None:
    cache = PrincipalCache()
    cache.put(b"a", principal(1), cache.generation)
    assert cache.get(b"a") is None


def test_a_notice_forgets_only_its_tenant() -> None:
    cache = live_cache()
    cache.put(b"a", principal(1), cache.generation)
    cache.put(b"b", principal(2), cache.generation)
    cache._heard("1")
    assert cache.get(b"a") is None
    assert cache.get(b"b") == principal(2)


def test_a_principal_read_before_a_change_is_not_kept_after_it() -> None:
    cache = live_cache()
    generation = cache.generation  # a request starts reading the key from the database
    cache._heard("1")  # meanwhile the tenant changes
    cache.put(b"a", principal(1), generation)  # the request's (old) principal arrives
    assert cache.get(b"a") is None
    cache.put(b"a", principal(1, version=2), cache.generation)
    assert cache.get(b"a") == principal(1, version=2)


def test_an_unreadable_notice_forgets_everything() -> None:
    cache = live_cache()
    cache.put(b"a", principal(1), cache.generation)
    cache._heard("not a number")
    assert cache.get(b"a") is None
