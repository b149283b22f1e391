# Logged by the locustfile when the measured window starts; the scenario runner waits for it.
MEASUREMENT_STARTED = "load test: every user has logged in; statistics reset"
