"""The audit log: one append-only record of who did what, to what, when and from where.

`events.py` is the vocabulary (`Actor`, `Target`, `AuditEvent`) and the one interface every
writer calls (`AuditSink.record`). Admin actions, sign-ins, token events, SCIM writes, key
rotations and bootstrap admins all end here, and each event is also one JSON log line.
"""
