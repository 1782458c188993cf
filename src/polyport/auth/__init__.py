"""Authentication for every protocol: password checks, SASL, throttling, the credential cache.

A protocol session builds a `LoginContext` (which service, which remote address, TLS or not, trusted
network or not) and asks the `Authenticator` (login.py): `login_plain` for USER/PASS-style logins, or a SASL
exchange from `sasl.SaslExchange` for AUTHENTICATE/AUTH. Failures are `AuthFailure` subclasses, each
protocol maps them to its own reply in one place.

Rules kept here, for all protocols alike:
- plaintext passwords are accepted only over TLS or from a trusted network;
- every failure is counted per remote address and per account, and lockouts refuse without checking;
- an unknown name costs the same time as a wrong password;
- the account's and its domain's AccessModes must allow the service.
"""
