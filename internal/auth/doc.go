// Package auth verifies the JSON Web Tokens that callers of the govx bus
// present, and mints tokens for development and tests.
//
// Only asymmetric signatures are accepted: Ed25519 (JWS alg "EdDSA"). The
// exchange has many verifiers (every adapter and API node) and few issuers;
// with a shared HMAC secret, every verifier would also be able to mint a
// token for any department, so one leaked config file would let its holder
// impersonate anyone. With Ed25519 a verifier holds only public keys, which
// may be published (see Key.JWKS and Verifier.JWKSHandler), and only the
// issuer can sign. Verify pins the algorithm to EdDSA before it looks at a
// key, which also shuts out "alg: none" and the classic confusion attack in
// which a token is HMAC-signed with the verifier's public key as the secret.
//
// Before any signature is checked, the raw JSON of the header and claims
// must be unambiguous (no member twice, exp/nbf/iat numbers, no "crit"),
// and a token may not claim to live longer than Config.MaxLifetime (24 h
// by default).
//
// With Config.OIDC, the Verifier also accepts tokens of an OpenID Connect
// provider (RS256, ES256 or EdDSA, as its JWKS publishes), fetching its
// discovery document and keys on first use, when they grow old and when a
// token names a key it does not know, at a bounded rate. ClaimMapping turns
// the provider's claims into govx's department, role and scopes.
//
// Verify is on the path of every request, so it keeps a bounded cache of
// tokens it has already verified, keyed by the SHA-256 of the token (the
// cache never holds a usable bearer credential) and never served after the
// token's exp.
package auth
