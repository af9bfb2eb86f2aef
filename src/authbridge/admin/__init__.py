"""The administrative services: everything an operator does (users, teams, role bindings,
clients, service accounts, robots, keys, SCIM credentials, connectors, audit), as one
function per act, each recording its audit event.

The admin API (`web/api/`), the console (`web/`) and the CLI (`cli/`) call the same
functions: one implementation per act. Errors are `errors.AdminError`s, which the API turns
into RFC 9457 problem documents and the CLI into messages and exit codes.
"""
