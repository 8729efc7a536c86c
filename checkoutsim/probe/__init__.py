"""``checkoutsim probe``: drive any HTTP checkout on this machine and measure its oversell.

``adapter`` reads the TOML that says how to talk to the target, ``target`` talks
to it (loopback only), ``drive`` plays a scenario's open-model schedule at it
through Locust, ``measure`` turns what the shoppers were told and the target's
own stock into the metrics contract, and ``predict`` fills the SimPy model from
a light-load calibration and the adapter's ``[model]`` section.
"""
