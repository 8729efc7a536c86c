"""checkoutsim: simulate and load-test an e-commerce checkout, and measure what breaks."""

__version__ = "0.1.0"
