"""``hello-async bench``: the article's claims, measured side by side in one run.

The picture (docs/how-we-measure.md)::

    CPU 1: bench process ── load generator (wrk, or the built-in one) ──┐
           delay server (the upstream: answers after D ms)  ◄──┐       │ HTTP
    CPU 0: server under test (Uvicorn / Gunicorn / the FastAPI and django-bolt peers) ◄─┘◄┘

One module per concern: ``delay_server`` (the upstream), ``loadgen`` (wrk when it is on PATH,
else the built-in generator; both parsed into one result), ``sseload`` (the load for event
streams), ``stats`` (percentiles, the aggregation of rounds, ratios, floors), ``processes``
(starting, pinning and watching servers), ``servers`` (how ours and the peers are started),
``model`` (a variant, a scenario), ``scenarios`` (what is compared with what) and ``diagnostics``
(forks off one by one, logging, the tail at 1000 concurrent), ``runner`` (warm-up, then
measured rounds A B A B),
``fleet`` and ``fleetload`` (the on-demand row of two hosts on one broker, and its clients),
``charts``, ``report`` (the rich table and the JSON) and ``cli``.

The bench's own packages are the ``bench`` dependency group, which a production install leaves
out: there this package refuses to import, naming the group, rather than failing halfway through
a run.
"""

from __future__ import annotations

import importlib.util

# The `bench` group in pyproject.toml, by import name: the table and the progress (rich), the
# charts (matplotlib), and the peers the bench starts beside ours (fastapi, sse_starlette,
# django_bolt).
GROUP_PACKAGES = ("rich", "matplotlib", "fastapi", "sse_starlette", "django_bolt")

_missing = [name for name in GROUP_PACKAGES if importlib.util.find_spec(name) is None]
if _missing:
    raise ModuleNotFoundError(
        f"hello_async.bench needs {', '.join(_missing)}, of the 'bench' dependency group, which "
        "a production install leaves out: uv sync --group bench (uv run installs it by default)",
        name=_missing[0],
    )
