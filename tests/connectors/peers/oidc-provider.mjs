// A certified OpenID provider (panva/oidc-provider) for authbridge's tests, on loopback.
// Usage: node oidc-provider.mjs <port> <config.json>
//   config: {"clients": [...client metadata...]}
// Any login name signs in; the account's email is <name>@example.com, verified, with groups.
// Faults for `authbridge doctor`'s tests, from the environment:
//   OIDC_PROVIDER_DATE_SKEW=<seconds>  every answer's Date header is that far off
//   OIDC_PROVIDER_JWKS_URI=<url>       the discovery document names this jwks_uri
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const port = Number(process.argv[2]);
const config = JSON.parse(readFileSync(process.argv[3], "utf8"));

const provider = new Provider(`http://localhost:${port}`, {
  clients: config.clients,
  responseTypes: ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token", "none"],
  pkce: { required: () => false, methods: ["S256"] },
  features: { devInteractions: { enabled: true } },
  scopes: ["openid", "email", "profile", "groups"],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "preferred_username"], groups: ["groups"] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.com`,
          email_verified: true,
          name: `User ${id}`,
          preferred_username: id,
          groups: ["analysts", `team-${id}`],
        };
      },
    };
  },
});
const skew = Number(process.env.OIDC_PROVIDER_DATE_SKEW || 0);
const jwksUri = process.env.OIDC_PROVIDER_JWKS_URI;
provider.use(async (ctx, next) => {
  await next();
  if (skew) ctx.set("Date", new Date(Date.now() + skew * 1000).toUTCString());
  if (jwksUri && ctx.path === "/.well-known/openid-configuration") {
    ctx.body = { ...ctx.body, jwks_uri: jwksUri };
  }
});
provider.proxy = false;
provider.listen(port, "127.0.0.1", () => {
  console.log(`listening ${port}`);
});
