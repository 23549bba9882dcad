"""The Django app, and the wiring done once at startup: its ready() makes the choices the settings
ask for (the fast path's forks, the broker) and hands them to the parts, which never ask."""

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
        hand_over_fast_path_choices()
        lifespan.connect()
        # The live feeds' broker, chosen here and used below: Redis when REDIS_URL is set.
        broker.configure(
            settings.REDIS_URL,
            prefix=settings.HELLO_ASYNC_REDIS_PREFIX,
            buffer=settings.HELLO_ASYNC_BROKER_BUFFER,
        )
        board.connect()  # every transition of an order, published by whoever makes it


def hand_over_fast_path_choices() -> None:
    """The forks the views' response helper and the upstream client use, read from the switch
    here (HELLO_ASYNC_FASTPATH, HELLO_ASYNC_FASTPATH_OFF) and handed in."""
    import httpx

    from hello_async import fastpath
    from hello_async.upstream import client
    from hello_async.web import responses

    if fastpath.enabled("text"):  # the same response, without running HttpResponse's constructor
        from hello_async.fastpath.responses import text_response

        responses.configure(text_factory=text_response)
    else:
        responses.configure(text_factory=responses.plain_text)
    client_class: type[httpx.AsyncClient] = httpx.AsyncClient
    if fastpath.enabled("client"):
        from hello_async.fastpath.httpclient import LeanAsyncClient

        client_class = LeanAsyncClient
    client.configure(client_class=client_class, hand_over_read=fastpath.enabled("handover"))
