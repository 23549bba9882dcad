"""Test settings: the project's, with fast hashing and quiet demo waits."""

from hello_async.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HELLO_ASYNC_TIME_SCALE = 0.0
HELLO_ASYNC_SHUTDOWN_GRACE = 5.0
UPSTREAM_URL = "http://upstream.invalid"
