"""Django's Redis cache, with one redis-py client per connection pool instead of one per operation.

Django builds a new ``redis.Redis`` for every cache call; with redis-py 8 that constructor fills a dict of some
170 response callbacks each time, which cost more CPU than the Redis round trip itself on the callback hot path
(one ``add`` per WeCom event). A ``redis.Redis`` is thread-safe and holds nothing but its pool, so one per pool
is enough.
"""

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
