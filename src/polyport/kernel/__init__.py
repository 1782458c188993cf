"""The protocol kernel: what every protocol's server side shares, so a new protocol declares its commands
and answers instead of copying a session loop.

- `session.py`: `CommandSession`, the base of every command protocol's session (IMAP, SMTP, POP3, the
  CLI/API; ACAP, FTP and XIMSS next). It owns the read-execute-answer loop, the command table
  `(command key) -> (handler, allowed states)`, the fixed result labels of the metrics (io-error
  included), the one error-mapping hook, the login context and the goodbyes on idle time-out and
  shutdown.
- `sasl.py`: SASL's challenge/response framing over a line protocol (RFC 4422): "+ " or "334 ",
  base64, the "*" cancel, the response's size limit.
- `handler.py`: the stream handler of a command protocol (one session per connection) and the
  listener's refusals in the protocol's own words.
- `protocol.py`: what a protocol package declares to the node (its handlers per transport and its
  background tasks), as Prosody's modules do with `module:provides`.

Invariants the kernel keeps for every protocol:
- a command is counted once, under one of `Result`'s labels, however it ends (a connection lost in the
  middle of one is `io-error`, never `ok`);
- a refusal never ends the session unless the protocol says so; an unexpected exception is logged with
  the connection's id and answered with the protocol's "internal error", never with a traceback;
- nothing of a command is logged but its name and outcome (LOGIN, PASS and AUTH carry secrets).
"""
