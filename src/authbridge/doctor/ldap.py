"""`authbridge doctor` for an LDAP directory: the transport's safety, the service
account's bind (TLS errors explained: connectors/ldap_directory.py), a test search of
`userSearch` and one of `groupSearch`, each as the service account sees them."""

from __future__ import annotations

from authbridge.connectors.errors import ConnectorError
from authbridge.connectors.http import is_loopback_host
from authbridge.connectors.ldap import LdapConnector
from authbridge.doctor.report import Check

__all__ = ["check_ldap"]


def _transport(connector: LdapConnector) -> list[Check]:
    name, settings = connector.id, connector.settings
    checks = []
    host = connector.directory.host if connector.directory is not None else settings.host
    if settings.insecure_no_ssl and not is_loopback_host(host):
        checks.append(
            Check(
                "config",
                name,
                "warn",
                f"insecureNoSSL: passwords cross the network to {settings.host} in clear",
                "use LDAPS (port 636) or startTLS: true with rootCA",
            )
        )
    if settings.insecure_skip_verify and not settings.insecure_no_ssl:
        checks.append(
            Check(
                "config",
                name,
                "warn",
                "insecureSkipVerify: any certificate is accepted, so anyone on the path can "
                "read passwords",
                "set rootCA (or rootCAData) to the directory's CA and drop insecureSkipVerify",
            )
        )
    return checks


def check_ldap(connector: LdapConnector) -> list[Check]:
    name = connector.id
    if connector.config_error is not None:
        return [Check("config", name, "fail", connector.config_error.hint or "misconfigured")]
    checks = _transport(connector)
    directory = connector.directory
    assert directory is not None
    settings = connector.settings
    who = f"as {settings.bind_dn}" if settings.bind_dn else "anonymously"
    try:
        connector.probe()
    except ConnectorError as exc:
        checks.append(Check("bind", name, "fail", exc.hint or exc.message))
        return checks
    checks.append(
        Check("bind", name, "ok", f"bound {who} to {directory.where}; the user search base exists")
    )
    search = settings.user_search
    probe = f"({search.username[0]}=*)"
    query = f"(&{search.filter}{probe})" if search.filter else probe
    try:
        users = directory.search(search.base_dn, query, search.scope, [], size_limit=1)
    except ConnectorError as exc:
        checks.append(Check("search", name, "fail", exc.hint or exc.message))
        return checks
    if users:
        checks.append(
            Check("search", name, "ok", f"{query} under {search.base_dn} finds {users[0].dn}")
        )
    else:
        checks.append(
            Check(
                "search",
                name,
                "fail",
                f"{query} under {search.base_dn} finds no entry {who}: nobody could sign in",
                "check userSearch.baseDN, filter and username, and that the service account "
                "may read users",
            )
        )
    groups = settings.group_search
    if groups.base_dn:
        query = groups.filter or "(objectClass=*)"
        try:
            found = directory.search(groups.base_dn, query, groups.scope, [], size_limit=1)
        except ConnectorError as exc:
            checks.append(Check("groups", name, "fail", exc.hint or exc.message))
            return checks
        if found:
            checks.append(
                Check("groups", name, "ok", f"{query} under {groups.base_dn} finds {found[0].dn}")
            )
        else:
            checks.append(
                Check(
                    "groups",
                    name,
                    "warn",
                    f"{query} under {groups.base_dn} finds no group {who}: nobody gets teams",
                    "check groupSearch.baseDN and filter",
                )
            )
    return checks
