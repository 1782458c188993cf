"""A node of several worker processes: the supervisor (supervisor.py), the worker's program (worker.py),
and the channel between them (wire.py, channel.py) that carries the bus and the key-value store."""
