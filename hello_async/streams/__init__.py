"""Streams: what the live feeds share, below them (the console, the live view, the board).

broker.py       messages on channels, across processes and hosts (Redis) or in-process
subscribers.py  a process's event streams: bounded per feed, a bounded queue each
sse.py          a subscriber as a ``text/event-stream`` response: heartbeats, a maximum age
"""
