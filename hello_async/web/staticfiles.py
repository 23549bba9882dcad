"""Static files: ServeStatic's middleware, with a missing file a 404 under DEBUG as without it.

Under DEBUG, ServeStatic looks a path under ``STATIC_URL`` up in the apps' static folders at
request time (``SERVESTATIC_USE_FINDERS`` and autorefresh default to DEBUG) and, when no file
answers it, raises ``MissingFileError`` to tell the developer where it looked, instead of handing
the request on to the URLconf as it does without DEBUG. Django turns that exception into a 500:
``/static/``, ``/static/lab/`` (a folder) or ``/static/nope.css``. Here the same miss raises
``Http404`` with ServeStatic's message, so the answer is a 404 and DEBUG's 404 page still says
where ServeStatic looked.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponseBase

# servestatic ships no type information.
from servestatic.middleware import ServeStaticMiddleware  # type: ignore[import-untyped]
from servestatic.responders import MissingFileError  # type: ignore[import-untyped]


class StaticFilesMiddleware(ServeStaticMiddleware):  # type: ignore[misc]
    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            response: HttpResponseBase = await super().__call__(request)
        except MissingFileError as exc:
            raise Http404(str(exc)) from exc
        return response
