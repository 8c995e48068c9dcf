// A certified OpenID provider (oidc-provider) for flask-ligand's integration tests, on 127.0.0.1 only.
//
// Environment:
//   IDP_PORT       the port to listen on (the issuer is http://127.0.0.1:<port>)
//   IDP_JWKS_FILE  a JSON Web Key Set with the private RSA keys to sign with; the first one signs
//   IDP_AUDIENCE   the resource server (audience) access tokens are for unless a client asks for another
//
// Clients (client_secret_basic, secret "<client_id>-secret", client-credentials grant only) and the
// Keycloak-style realm roles their access tokens carry in realm_access.roles:
//   no-roles: none;  user: user;  admin: user, admin;  short-lived: user, with tokens valid for 1 second.
// Access tokens are JWTs (RS256) for the audience named by the `resource` parameter (RFC 8707), any of
// IDP_AUDIENCE and the RESOURCES below.
import { readFileSync } from "node:fs";

import Provider from "oidc-provider";

const port = Number(process.env.IDP_PORT);
const audience = process.env.IDP_AUDIENCE;
const jwks = JSON.parse(readFileSync(process.env.IDP_JWKS_FILE, "utf8"));
const issuer = `http://127.0.0.1:${port}`;

const ROLES = { "no-roles": [], user: ["user"], admin: ["user", "admin"], "short-lived": ["user"] };
const RESOURCES = new Set([audience, "https://other-service.example.test"]);

const clients = Object.keys(ROLES).map((clientId) => ({
  client_id: clientId,
  client_secret: `${clientId}-secret`,
  grant_types: ["client_credentials"],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: "client_secret_basic",
}));

const ttl = (client) => (client.clientId === "short-lived" ? 1 : 300);

const provider = new Provider(issuer, {
  clients,
  jwks,
  ttl: { ClientCredentials: (ctx, token, client) => ttl(client) },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator, client) => {
        if (!RESOURCES.has(resourceIndicator)) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: "api",
          audience: resourceIndicator,
          accessTokenTTL: ttl(client),
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
  extraTokenClaims: (ctx, token) => ({ realm_access: { roles: ROLES[token.clientId] ?? [] } }),
});

const server = provider.listen(port, "127.0.0.1", () => {
  console.log(`oidc-provider listening at ${issuer}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
