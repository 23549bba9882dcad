"""Jobs: fire-and-forget work a request starts, with one owner (background.py), below the features.

The article's views and the lab start jobs; the lifespan drains them at shutdown; metrics read
their figures. Work that must not be lost is a durable task instead (hello_async.work).
"""
