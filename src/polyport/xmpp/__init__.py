"""XMPP (RFC 6120/6121/7622): instant messaging on 5222 (STARTTLS), 5223 (TLS) and 5269 (federation).

Built so far: the pure parts, `jid.py` (JIDs prepared for comparison) and `wire.py` (what the server
writes: stream headers, features, stream and stanza errors, stanzas serialized without invented
prefixes); the stream itself is read by net/framing/xmlstream.py. The sessions, rosters, presence and
the rest of issue 16 are not built: the service table lists XMPP as not available.
"""
