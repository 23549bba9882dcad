from __future__ import annotations

from django.apps import AppConfig


class HelloAsyncConfig(AppConfig):
    name = "hello_async"
    verbose_name = "Hello, async Django!"

    def ready(self) -> None:
        from hello_async import fastpath
        from hello_async.ops import lifespan

        fastpath.check_settings()
        lifespan.connect()
