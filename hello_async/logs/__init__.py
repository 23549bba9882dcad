"""The article's console at full speed: log records written off the event loop, in batches.

    context.py      the request id, carried by context variables into background work
    handlers.py     the handler that queues records as they are, and the thread that writes them
    formatters.py   the console's lines (Uvicorn's prefixes) or JSON lines
    taps.py         what wants a request's records as they are logged (live views, console)

Records are made where they are logged (their time, their request id), handed to a writer
thread without being formatted, and written in order, a batch per write; the writer drains what
is left at shutdown. Uvicorn's own loggers (its access log too) are routed the same way.
"""
