"""The SCIM service of each provisioning source (`okta`, `microsoft`), each built once.

`ScimService` brings scim2-models with it (pydantic models of RFC 7643's resources and
messages, and the RFC 7644 §3.4.2.2 filter grammar compiled by lark) and the SCIM stores:
about a quarter of a start-up's CPU and several MB per worker, which a service that
provisions nothing never needs. So `Services` wires one `ScimSources` at start-up, with every
argument fixed there, and a source's service is built (and those modules imported) on the
first request of that source that passed authentication, which needs none of them.

A source that has an active credential when the service starts (`scim.<source>.authCode`,
`SCIM_AUTH_CODE_<SOURCE>`, or one issued by an administrator) is built at start-up, as every
source was before: a broken installation fails the start, not the IdP's first push.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from authbridge.config.model import ScimSettings
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.revocation import UserCredentialRevoker
from authbridge.storage import Storage

if TYPE_CHECKING:
    from authbridge.scim.service import ScimService

__all__ = ["ScimSources"]


class ScimSources:
    """`sources[source]`: that source's `ScimService`, built on first use (see the module)."""

    def __init__(
        self,
        storage: Storage,
        settings: ScimSettings,
        *,
        sources: Iterable[str],
        issuer: str,
        revocation: UserCredentialRevoker,
        membership: MembershipEngine,
        build_now: Iterable[str] = (),
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._sources = tuple(sources)
        self._issuer = issuer
        self._revocation = revocation
        self._membership = membership
        self._lock = threading.Lock()
        self._built: dict[str, ScimService] = {}
        for source in build_now:
            self[source]

    def __getitem__(self, source: str) -> ScimService:
        service = self._built.get(source)
        if service is not None:
            return service
        if source not in self._sources:
            raise KeyError(source)
        # Two first requests at once build one service: the second waits for the first's.
        with self._lock:
            service = self._built.get(source)
            if service is None:
                service = self._build(source)
                self._built[source] = service
        return service

    @property
    def built(self) -> frozenset[str]:
        """The sources whose service exists (for tests and the start-up log)."""
        return frozenset(self._built)

    def _build(self, source: str) -> ScimService:
        # Here, not at the top: importing it loads scim2-models (see the module's text).
        from authbridge.scim.service import ScimService

        return ScimService(
            self._storage,
            self._settings,
            source=source,
            base_url=f"{self._issuer}/v1/scim/v2/{source}",
            revocation=self._revocation,
            membership=self._membership,
        )
