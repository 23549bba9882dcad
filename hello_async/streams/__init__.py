"""Streams: what the live feeds share, below them (the console, the live view, the board).

broker.py        the process's broker, chosen at startup: in-process, or Redis (REDIS_URL)
channels.py      channels, subscriptions, the in-process broker, sequence numbers
redis_broker.py  Redis pub/sub on a thread of its own: bounded, never blocking, reconnecting
subscribers.py   a process's event streams: bounded per feed, a bounded queue each
sse.py           a subscriber as a ``text/event-stream`` response: heartbeats, a maximum age
"""
