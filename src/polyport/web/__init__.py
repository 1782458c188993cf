"""The web services: WebUser (webmail), WebAdmin, autoconfig, MTA-STS policy and metrics, over HTTP(S).

aiohttp serves the requests, on sockets our own listener opens (net/http.py), so every web port keeps the
node's limits, trusted-networks rule, shared TLS context and shutdown order.
"""
