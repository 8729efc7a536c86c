"""Reference checkouts written the way tutorials write them: the probe's test bench."""
