// A certified OpenID provider (panva/oidc-provider) for authbridge's tests, on loopback.
// Usage: node oidc-provider.mjs <port> <config.json>
//   config: {"clients": [...client metadata...]}
// Any login name signs in; the account's email is <name>@example.com, verified, with groups.
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
provider.proxy = false;
provider.listen(port, "127.0.0.1", () => {
  console.log(`listening ${port}`);
});
