"""Live: the article's lines as server-sent events, for curl and for the console in the browser.

    console.py      /console/: each visitor's own requests, their lines as they happen, from
                    whichever process or host serves them (a broker channel per visitor)
    views.py        /smoke_some_meats/live/ and the console's pages

The lines come from the log records themselves: a record carries its request's id
(hello_async.logs.context), and a tap registered for that id hands it on. The streams, their
bounds and the broker are below, in hello_async.streams.
"""
