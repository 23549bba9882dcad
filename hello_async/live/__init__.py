"""Live: server-sent events, for the article's console in the browser and the live views.

    broker.py       subscribers: at most N, each with a bounded queue (a laggard is dropped)
    sse.py          a subscriber as a ``text/event-stream`` response, with heartbeats
    console.py      /console/: each visitor's own requests, their lines as they happen
    views.py        /smoke_some_meats/live/ and the console's pages

The lines come from the log records themselves: a record carries its request's id
(hello_async.logs.context), and a tap registered for that id hands it to the subscriber.
"""
