from __future__ import annotations

from django.apps import AppConfig


class HelloAsyncConfig(AppConfig):
    name = "hello_async"
    verbose_name = "Hello, async Django!"

    def ready(self) -> None:
        from django.conf import settings

        from hello_async import fastpath
        from hello_async.ops import lifespan
        from hello_async.streams import broker
        from hello_async.work import board

        fastpath.check_settings()
        lifespan.connect()
        # The live feeds' broker, chosen here and used below: Redis when REDIS_URL is set.
        broker.configure(
            settings.REDIS_URL,
            prefix=settings.HELLO_ASYNC_REDIS_PREFIX,
            buffer=settings.HELLO_ASYNC_BROKER_BUFFER,
        )
        board.connect()  # every transition of an order, published by whoever makes it
