"""``hello-async bench``: the article's claims, measured side by side in one run.

The picture (how-we-measure.md)::

    CPU 1: bench process ── load generator (wrk, or the built-in one) ──┐
           delay server (the upstream: answers after D ms)  ◄──┐       │ HTTP
    CPU 0: server under test (Uvicorn / Gunicorn / the FastAPI peer) ◄─┘◄┘

One module per concern: ``delay_server`` (the upstream), ``loadgen`` (the built-in load
generator), ``wrk`` (the wrk runner and its output parser), ``stats`` (percentiles and the
aggregation of rounds), ``processes`` (starting, pinning and watching servers), ``scenarios``
(what is compared with what), ``runner`` (warm-up, then measured rounds A B A B), ``charts``,
``report`` (the rich table and the JSON) and ``cli``.
"""
