"""What a scenario says about the world both bodies run in: latency samplers, fault
schedules and breakers built from settings, arrivals and the policies a scenario
selects.

Imports the brain and the settings; never a body.
"""
