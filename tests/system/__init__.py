"""The whole server from outside: real Uvicorn processes, faults, shutdown, bad input. CI runs these
with the fast path on and off (HELLO_ASYNC_FASTPATH)."""
