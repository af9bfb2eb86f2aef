// A certified OpenID provider (panva/oidc-provider) for authbridge's tests, on loopback.
// Usage: node oidc-provider.mjs <port> <config.json>
//   config: {"clients": [...client metadata...]}
// Any login name signs in; the account's email is <name>@example.com, verified, with groups.
// Faults for `authbridge doctor`'s tests, from the environment:
//   OIDC_PROVIDER_DATE_SKEW=<seconds>  every answer's Date header is that far off
//   OIDC_PROVIDER_JWKS_URI=<url>       the discovery document names this jwks_uri
// How the person signed in, for requireMfa's tests (unset: the ID token has no amr/acr):
//   OIDC_PROVIDER_AMR=pwd,otp          the login's amr (RFC 8176 values, comma-separated)
//   OIDC_PROVIDER_ACR=<value>          the login's acr
//   OIDC_PROVIDER_ACR_VALUES=a,b       acr_values_supported
//   OIDC_PROVIDER_REQUEST_LOG=<file>   each authorization request's parameters, a JSON line
//   OIDC_PROVIDER_USERINFO_AMR=pwd,otp the account's claims (userinfo) say this amr; the
//                                      ID token's amr still comes from the login alone
import { appendFileSync, readFileSync } from "node:fs";
import Provider from "oidc-provider";

const port = Number(process.argv[2]);
const config = JSON.parse(readFileSync(process.argv[3], "utf8"));

const provider = new Provider(`http://localhost:${port}`, {
  clients: config.clients,
  responseTypes: ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token", "none"],
  pkce: { required: () => false, methods: ["S256"] },
  features: { devInteractions: { enabled: true } },
  scopes: ["openid", "email", "profile", "groups"],
  acrValues: (process.env.OIDC_PROVIDER_ACR_VALUES || "").split(",").filter(Boolean),
  // amr goes with the openid scope: standalone, it would appear only when requested by name.
  claims: { acr: null, auth_time: null, openid: ["sub", "amr"], email: ["email", "email_verified"], profile: ["name", "preferred_username"], groups: ["groups"] },
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
          ...(process.env.OIDC_PROVIDER_USERINFO_AMR
            ? { amr: process.env.OIDC_PROVIDER_USERINFO_AMR.split(",") }
            : {}),
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
const requestLog = process.env.OIDC_PROVIDER_REQUEST_LOG;
if (requestLog) {
  provider.use(async (ctx, next) => {
    if (ctx.path === "/auth") appendFileSync(requestLog, JSON.stringify(ctx.query) + "\n");
    await next();
  });
}
// The dev login form finishes with { login: { accountId } }; the knobs add amr/acr to the
// login result, which oidc-provider puts in the session and from there in the ID token.
const amr = (process.env.OIDC_PROVIDER_AMR || "").split(",").filter(Boolean);
const acr = process.env.OIDC_PROVIDER_ACR;
const finished = provider.interactionFinished.bind(provider);
provider.interactionFinished = async (req, res, result, options) => {
  if (result && result.login) {
    if (amr.length) result.login.amr = amr;
    if (acr) result.login.acr = acr;
  }
  return finished(req, res, result, options);
};
provider.proxy = false;
provider.listen(port, "127.0.0.1", () => {
  console.log(`listening ${port}`);
});
