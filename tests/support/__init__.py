"""Helpers the tests share: real servers, a fault proxy, a hostile upstream, task functions and
worker fixtures."""
