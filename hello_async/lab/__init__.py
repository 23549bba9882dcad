"""The lab (``/lab/``): run one of the article's claims as an experiment and see its timeline.

``presets`` holds the fixed pairs of the server's own endpoints, one pair per claim; ``runner``
the experiment (N concurrent requests per side, timed), its statistics and its limits; ``views``
the page, ``POST run/`` (JSON in, JSON out) and ``GET status/`` (progress, polled by the page).
"""
