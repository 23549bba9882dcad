"""What the product copies from its dependencies or reads of their private state, pinned in one
place by a hash of that code's AST.

A fork (hello_async.fastpath) is correct only as long as the code it stands in for stays as it was
read; a module that reaches into a dependency's private attributes, only as long as the code that
sets and reads them does. Each name below is pinned by :func:`fingerprint`: the sha256 of the
code's syntax tree without docstrings, so a release that only edits comments or docstrings passes,
and one that changes what the code does fails tests/test_pins.py, naming what to read again.
Used by tests only, so it lives here, not in the package.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import textwrap
from typing import Any

# The code each fork copies (or whose private state it reads), by fork.
COPIES: dict[str, tuple[str, ...]] = {
    "handler": (
        "django.core.handlers.asgi.ASGIHandler.__call__",
        "django.core.handlers.asgi.ASGIHandler.handle",
        "django_asgi_lifespan.handler.LifespanASGIHandler.__call__",
        "django_asgi_lifespan.handler.LifespanASGIHandler._handle_lifespan",  # private: called
        "django.core.handlers.base.BaseHandler.load_middleware",
        "asgiref.sync.ThreadSensitiveContext.__aenter__",
        "asgiref.sync.ThreadSensitiveContext.__aexit__",
        "django.dispatch.dispatcher.Signal.send",
        "django.dispatch.dispatcher.Signal._live_receivers",  # private: read by fastpath.signals
        # fastpath.signals remembers its answer while ``signal.receivers`` holds the same entries:
        # what adds, removes or clears them.
        "django.dispatch.dispatcher.Signal.connect",
        "django.dispatch.dispatcher.Signal.disconnect",
        "django.dispatch.dispatcher.Signal._clear_dead_receivers",
        "django.http.response.HttpResponseBase.close",
    ),
    "middleware": ("django.utils.deprecation.MiddlewareMixin.__acall__",),
    "lean_chain": ("django.core.handlers.base.BaseHandler.load_middleware",),
    "respond": ("django.core.handlers.asgi.ASGIHandler.handle",),
    "security": (
        "django.middleware.security.SecurityMiddleware.__init__",
        "django.middleware.security.SecurityMiddleware.process_response",
        "django.http.response.ResponseHeaders.__setitem__",
        "django.http.response.ResponseHeaders.setdefault",
        "django.http.response.HttpResponseBase.setdefault",
        "django.http.response.HttpResponseBase.has_header",
    ),
    "receivers": (
        "asgiref.local._ThreadCriticalLocal.__getattr__",
        "asgiref.local._ThreadCriticalLocal._get_storage",
        "asgiref.local._DefaultLocal.__getattr__",
        "asgiref.local._CVar.__getattr__",
        "asgiref.local._CVar._storage",
        "asgiref.local.Local.__new__",
        "django.utils.connection.BaseConnectionHandler.all",
        "django.utils.connection.BaseConnectionHandler.close_all",
        "django.db.reset_queries",
        "django.db.close_old_connections",
        # only_urlconf_to_reset: a connection never connected is left as it is.
        "django.db.backends.base.base.BaseDatabaseWrapper.close_if_unusable_or_obsolete",
        "django.core.cache.close_caches",
        "django.core.handlers.base.reset_urlconf",
        "django.urls.base.set_urlconf",
    ),
    "text": (
        "django.http.response.HttpResponseBase.__init__",
        "django.http.response.HttpResponse.__init__",
        "django.http.response.ResponseHeaders.__init__",
        "django.http.response.HttpResponseBase.make_bytes",
    ),
    "client": (
        "httpx.Cookies.extract_cookies",
        "httpx.AsyncClient._send_handling_auth",
        "httpx.Auth.async_auth_flow",
        "httpx.AsyncClient._send_single_request",
        "httpx._client.BoundAsyncStream",
    ),
    "io": (
        "django.core.handlers.asgi.ASGIHandler.read_body",
        "django.core.handlers.asgi.ASGIHandler.handle",
        "django.core.handlers.asgi.ASGIHandler.send_response",
        "django.core.handlers.asgi.ASGIHandler.chunk_bytes",
        "django.http.response.HttpResponseBase.items",
        "django.http.response.HttpResponse.content",
        "django.utils.datastructures.CaseInsensitiveMapping.__iter__",
        "django.utils.datastructures.CaseInsensitiveMapping.__getitem__",
    ),
    "handover": ("httpx.Response.aread", "httpx.Response.aiter_bytes"),
    # Not a copy: what Uvicorn calls on the loop's server (create_server's arguments) and reads
    # of what it returns (sockets, close, wait_closed), in the server and in Gunicorn's worker.
    "accept": (
        "uvicorn.server.Server.startup",
        "uvicorn.server.Server.shutdown",
        "uvicorn_worker._workers.UvicornWorker._serve",
    ),
}

# The private state a module outside the forks sets or reads: the code that sets and reads it too.
READS: dict[str, tuple[str, ...]] = {
    # AllowedHostsMiddleware sets Content-Length in the response's header store.
    "hello_async.web.hosts": (
        "django.http.response.HttpResponseBase.has_header",
        "django.http.response.ResponseHeaders.__setitem__",
        "django.middleware.common.CommonMiddleware.process_response",
    ),
    # SyncTransport swaps ``HTTPTransport._pool`` for a pool on its own network backend.
    "hello_async.upstream.sync_transport": (
        "httpx.HTTPTransport.__init__",
        "httpx.HTTPTransport.__enter__",
        "httpx.HTTPTransport.__exit__",
        "httpx.HTTPTransport.handle_request",
        "httpx.HTTPTransport.close",
    ),
    # _BoundedConnector swaps ``_factory`` (the protocol each connection gets) for _BoundedHandler,
    # a ResponseHandler subclass; the transport reads the aiohttp response behind httpx-aiohttp's
    # stream (``AiohttpResponseStream._aiohttp_response``).
    "hello_async.upstream.aiohttp_transport": (
        "aiohttp.connector.BaseConnector.__init__",
        "aiohttp.connector.TCPConnector._start_tls_connection",
        "aiohttp.connector.TCPConnector._create_direct_connection",
        "aiohttp.connector.TCPConnector._create_proxy_connection",
        "aiohttp.client_proto.ResponseHandler.__init__",
        "aiohttp.client_proto.ResponseHandler.set_response_params",
        "aiohttp.client_proto.ResponseHandler.data_received",
        "httpx_aiohttp.transport.AiohttpResponseStream",
        "httpx_aiohttp.transport.AiohttpTransport.handle_async_request",
    ),
}

# Each name once, whatever forks or modules use it: its fingerprint when they were last read.
PINS: dict[str, str] = {
    "django.http.response.HttpResponse.content": (
        "c774af3f557a8bdc408d315b818808e407c4901bd169074130677a03606a65f8"
    ),
    "django.http.response.HttpResponseBase.items": (
        "d68215358cd88daa4fb2111eb8ff0ee1555b92016ea3f8ca099364ca196f74b4"
    ),
    "django.utils.datastructures.CaseInsensitiveMapping.__getitem__": (
        "e8cdd82ac2f49614f8b96dde33124981bbed31c26e92a278ff21058e8cbc3968"
    ),
    "django.utils.datastructures.CaseInsensitiveMapping.__iter__": (
        "fcf4fea28302dd0efb8ab44f8dc17c057f6d2c7b7dc8e0ab1ea43c0411001b2d"
    ),
    "django.core.handlers.asgi.ASGIHandler.chunk_bytes": (
        "696deb9aa35cf88142cbd6d71628ff303249d486ca63bb146ef2ef65ea802c39"
    ),
    "django.core.handlers.asgi.ASGIHandler.read_body": (
        "123fe14b68c5e6fa32b514123db3706ca4ff695f0cab4e795e78be48981f83e6"
    ),
    "django.core.handlers.asgi.ASGIHandler.send_response": (
        "e47be67c8fed0484a496887638e7ccfce4e6ba51157dabbe2038830f83068904"
    ),
    "django.dispatch.dispatcher.Signal._clear_dead_receivers": (
        "9eb6ed957a4e931e9058456fd0e18101f576130aa29397ed4fc8c625bcbce244"
    ),
    "django.dispatch.dispatcher.Signal.connect": (
        "a6feaab73b02a425e870465c643bc96c9f54f9c1cb0024616c8dd89e05bc1586"
    ),
    "django.dispatch.dispatcher.Signal.disconnect": (
        "c9bb1112bf3a09cdac18005ab3c068e5c63c7b6a02fced4a94cb977e461ce34c"
    ),
    "aiohttp.client_proto.ResponseHandler.__init__": (
        "dcd75ca20fa48915c704afcb362cd61187afa09479cb0689c36007e6f5f9742d"
    ),
    "aiohttp.client_proto.ResponseHandler.data_received": (
        "c04bfd0d2dfa59e5d741437e3c73527810adc2d60a37ca8d7f96289f4c203a65"
    ),
    "aiohttp.client_proto.ResponseHandler.set_response_params": (
        "01536c653a81155c76cf9f98bc464f88adf74dbf29a1fd6c0f94d82c55723efb"
    ),
    "aiohttp.connector.BaseConnector.__init__": (
        "aba8b177dd1eea181cf2222eddd23904a7f439f4e84d47ee959aa4aef22c9cd0"
    ),
    "aiohttp.connector.TCPConnector._create_direct_connection": (
        "ba944ed73870e19bc0a6c8fbc8534449f25c878b83eae15fd1577555bec84d06"
    ),
    "aiohttp.connector.TCPConnector._create_proxy_connection": (
        "d467342be9654eaf152ed353f557bf23f87681ec4b8725522cc41c1669d88833"
    ),
    "aiohttp.connector.TCPConnector._start_tls_connection": (
        "4327145c6c22cc7038d17a0d29ce9d3a8245306665be0528d453de1183737cde"
    ),
    "asgiref.local.Local.__new__": (
        "85933a87a58eee95f4d255090235a922134652677c83a39417336ee206a234e6"
    ),
    "asgiref.local._CVar.__getattr__": (
        "aa61af399fb368eed47545c8e81910ac20395ad0210df8459f4ef43bc2138584"
    ),
    "asgiref.local._CVar._storage": (
        "0056439c2cad2e581a017d0aebcb628724d2a60d5973dc90c89f7e9f3054d060"
    ),
    "asgiref.local._DefaultLocal.__getattr__": (
        "2b11c887c90f3f289dfe4827b998c7f4c4785dfe60e2f05b2abb9a55eeffb9a5"
    ),
    "asgiref.local._ThreadCriticalLocal.__getattr__": (
        "770a6f8adcf447eeebeeb8b7d1e8c956f399973d347f1f948e2d543c8813848f"
    ),
    "asgiref.local._ThreadCriticalLocal._get_storage": (
        "699af9ccfa0f8cbb1e7698c181bd3e4d1e582adf36e4fe3f628eb1c04044814d"
    ),
    "asgiref.sync.ThreadSensitiveContext.__aenter__": (
        "18a89864fc6380570616a3afae18a6cbcdaea20736ce55f3205603d176fd7b58"
    ),
    "asgiref.sync.ThreadSensitiveContext.__aexit__": (
        "c74bff01f1e8a69b654403831375aff9ef54dfc20d74498643aefbf5f64a03f0"
    ),
    "django.core.cache.close_caches": (
        "88a84d50e3728c9abeb08dbcc05095683d7ff1040812498534cb5b825ba76624"
    ),
    "django.core.handlers.asgi.ASGIHandler.__call__": (
        "1db0e01eccae88eb23c97ba34068129ce36da1d903d40955e08814e48e3e61fc"
    ),
    "django.core.handlers.asgi.ASGIHandler.handle": (
        "67c1334ceb7b07e9ee89594e04ed115f3e70e2d05bfc734c23ec03633ff162d9"
    ),
    "django.core.handlers.base.BaseHandler.load_middleware": (
        "f9d22e7ec0c3572e47784d3a93018a99998992ea37826f38add8b47e513f51ff"
    ),
    "django.core.handlers.base.reset_urlconf": (
        "7af76fffef20ebb301a28598958ee590cb26d6bddb6e5122e287ff05e638116a"
    ),
    "django.db.close_old_connections": (
        "9884d093ffc5b7f4e003003f3c7b46d4a00fc326576101ead020ae571558db94"
    ),
    "django.db.backends.base.base.BaseDatabaseWrapper.close_if_unusable_or_obsolete": (
        "d29ce756735e7c3c4032b40256e5b692faa8c9f0b01c5498e513f0ecaae6eed4"
    ),
    "django.middleware.common.CommonMiddleware.process_response": (
        "ba90c8e5b987dad76f5fc49f9a43ca5309b891803f5b844053bd5b98d66fe084"
    ),
    "django.db.reset_queries": ("5186289dbea3b12162c035501e7ed96d9b88916b2b6aa4495fbddb8a71743ba8"),
    "django.dispatch.dispatcher.Signal._live_receivers": (
        "c6a44e29499bed55d470616f62763f8a9ca03c5756b6d8f7407d8c3fa982d2a7"
    ),
    "django.dispatch.dispatcher.Signal.send": (
        "4b4651ac9e68e28b37e85044fb3342e02542be4f589aea0ce84e618adf237365"
    ),
    "django.http.response.HttpResponse.__init__": (
        "ee747e99a8a37454c01bdaaccc37b2eb1d09b07b3abc4d0b2aa0a9b7f982bf4c"
    ),
    "django.http.response.HttpResponseBase.__init__": (
        "f4fe7ea0d36b8ea526cbf746a1bc2dc5fe817ecd3e919da5a6b3a752dc4d7442"
    ),
    "django.http.response.HttpResponseBase.close": (
        "982792cd184299d2f7f25776d3da35225bcbf3d8ec354ce1d72372c5faa7eca2"
    ),
    "django.http.response.HttpResponseBase.has_header": (
        "1e89caaab8c1f2ea54f1549c9a0bc0a637e139658dde74af2efa9b7b1a70fd8d"
    ),
    "django.http.response.HttpResponseBase.make_bytes": (
        "39b7bfa50528995e2956217d2113bd3f55c4a30d4d4d2d8658223812df568c2e"
    ),
    "django.http.response.HttpResponseBase.setdefault": (
        "c4fad2d89faf04d8e2cac7a8b14091af31257cf8a738871eb81930e322185ae9"
    ),
    "django.http.response.ResponseHeaders.__init__": (
        "e9b0094e9af9c43e26d43b57e81e22e4aa81e6e5e4ffc646354be12a8bbcf77f"
    ),
    "django.http.response.ResponseHeaders.__setitem__": (
        "7ed42e4eb144979eb7e296e829dc4f54a68755bdd6ebb62dff1518418f0804d6"
    ),
    "django.http.response.ResponseHeaders.setdefault": (
        "7c4e6cf10107f85c37d812a73773eb9b695cd0dd3eda8324ab69afe4b851c7a7"
    ),
    "django.middleware.security.SecurityMiddleware.__init__": (
        "0a5f0a8bd20c930cb18c7fd03e45eb462364db5a3dd3997a43f11b96eaa1c67d"
    ),
    "django.middleware.security.SecurityMiddleware.process_response": (
        "0ab7ce7a567d69f89b61042d78169676aa6321a850bbe9606f4a80c97edbe606"
    ),
    "django.urls.base.set_urlconf": (
        "1711f363e44cc2a721b486dcafa16afcfbacc5d92fdb48982965b50f49b99c30"
    ),
    "django.utils.connection.BaseConnectionHandler.all": (
        "1535ceeafa13865ca141303307972ae2ce83a7fd114a3e035367a200f199ef28"
    ),
    "django.utils.connection.BaseConnectionHandler.close_all": (
        "3ba5292aa19086cbcbd9aa229b1845024ceb5d489abbd64628d3cb24399110c2"
    ),
    "django.utils.deprecation.MiddlewareMixin.__acall__": (
        "18a23e1e10bb8c776290d73843d667d434d7e940b0c7f88df08d12395a68923c"
    ),
    "django_asgi_lifespan.handler.LifespanASGIHandler.__call__": (
        "40460ea6a96b87d351da5c0f18ee6bbb85c2a0088cdbb4ab1a633db607bc2847"
    ),
    "django_asgi_lifespan.handler.LifespanASGIHandler._handle_lifespan": (
        "f974803075f18fa79433603b34e5d22f0643a4d6644143c927160de009726976"
    ),
    "httpx.AsyncClient._send_handling_auth": (
        "495040231c5ba360d44952dd8a8aeba70e421065cf8c4f7d4d80c07080df000f"
    ),
    "httpx.AsyncClient._send_single_request": (
        "c357032c62bac49dfb2439d432b30d3cb4401ac40d2cf7cc52c25ab84cc0df8f"
    ),
    "httpx.Auth.async_auth_flow": (
        "a7b5159050f3c8955489409920f72ac04289b3b6b739b0f1b2700472dbcd64d8"
    ),
    "httpx.Cookies.extract_cookies": (
        "876e5fba550dddba77da430876f351fd148796d795e34a5977e5fbfd7368371c"
    ),
    "httpx.HTTPTransport.__enter__": (
        "b5a44b4631978de016c565c540dc7dda889ae0ddf5a30839d43e5a0a1373e821"
    ),
    "httpx.HTTPTransport.__exit__": (
        "5502af167df0e08fb6e4972600e9ad45c1b41b6ebca00c9426b2d1a54d4f25a7"
    ),
    "httpx.HTTPTransport.__init__": (
        "0c504f3d32d36982b09aaccf7b18acac282e07975a18bb0c50f277da023ee7f3"
    ),
    "httpx.HTTPTransport.close": (
        "9d08202b23a983d09aac29e57289a1af4fef8336f58c062549ad33e66aa3db54"
    ),
    "httpx.HTTPTransport.handle_request": (
        "14448331d80769715840184fb0fe7dc4181cc234a502850b66f19a72a6ca66a9"
    ),
    "httpx.Response.aiter_bytes": (
        "180df870ee385897995e8705d4ccee374249c6100e1cdccad537c84059608f5b"
    ),
    "httpx.Response.aread": ("a326e8c4eea3ada6c4f7a44d59708147c6592c8ef61b54900a6ca4adcf2f5c84"),
    "httpx._client.BoundAsyncStream": (
        "9646bcb6fc6e96c17ef645dec325ce0132486d8a7216052c4e8db748a89055e3"
    ),
    "httpx_aiohttp.transport.AiohttpResponseStream": (
        "a980c00f9133d33d2255afb4946d4787958746698d674088a385bb6a585324b9"
    ),
    "httpx_aiohttp.transport.AiohttpTransport.handle_async_request": (
        "7b23e1bfa432d0804b7a2021c8923ee999af7dad0b0034b5e9bb41c8b5a56217"
    ),
    "uvicorn.server.Server.shutdown": (
        "d98631405dd80c4c17d8fa620d5c4c7f613be3b310b2513c4f473991e94df4ae"
    ),
    "uvicorn.server.Server.startup": (
        "9b3044c670dc4a5246fc127c438ac130860aa0bcd00194522adff24a940e02cd"
    ),
    "uvicorn_worker._workers.UvicornWorker._serve": (
        "f51a00e828c82e00f8c0db4139ee56c1e7267f3683b69d2119a8795db56d4df3"
    ),
}


def resolve(dotted: str) -> Any:
    """The object a dotted name names: a module's attribute, or a class's (a property's getter)."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = inspect.getattr_static(obj, attribute)
        if isinstance(obj, property):  # its getter
            obj = obj.fget
        return inspect.unwrap(getattr(obj, "__func__", obj))
    raise ImportError(dotted)


def fingerprint(obj: Any) -> str:
    """sha256 of ``obj``'s syntax tree, docstrings left out."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def users_of(dotted: str) -> list[str]:
    """The forks and modules to read again when ``dotted`` changes."""
    tables = (*COPIES.items(), *READS.items())
    return [user for user, names in tables if dotted in names]
