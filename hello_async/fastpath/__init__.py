"""The fast path: forks of Django and HTTPX internals, behind HELLO_ASYNC_FASTPATH."""
