"""hello_async: the testdriven.io article "Async Views in Django", built as real software."""
