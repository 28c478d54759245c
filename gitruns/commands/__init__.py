"""One module per verb: each takes explicit arguments and returns an exit code."""
