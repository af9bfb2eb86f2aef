"""The platform as an OpenID Provider (OIDC Core 1.0, RFC 6749, RFC 7636, RFC 8628, RFC 7009,
RFC 7662, RFC 9207, RP-Initiated Logout 1.0), free of any web framework.

- `clients`: registered clients, redirect URI matching, client authentication
- `authorization`: the authorization request, prompt/max_age decisions, response encoding
- `grants`: the token endpoint's grants
- persistence (codes, refresh-token families, device codes, revocations) is
  `authbridge.storage.provider_store.ProviderStore`, given to `OpenIDProvider`
- `service`: `OpenIDProvider`, the one object the web layer and the CLI call
"""

from authbridge.provider.clients import Client, ClientRegistry
from authbridge.provider.errors import OAuthError
from authbridge.provider.service import NewClient, OpenIDProvider

__all__ = ["Client", "ClientRegistry", "NewClient", "OAuthError", "OpenIDProvider"]
