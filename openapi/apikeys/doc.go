// Package apikeys identifies and rate-limits the callers of the open-data
// API. A third party may call anonymously, limited per client address, or
// register for an API key (POST /open/v1/keys) and present it as
// "X-API-Key: <id>.<secret>", or trade it for a short-lived JWT
// (POST /open/v1/token, OAuth 2.0 client credentials, RFC 6749 §4.4) and
// present that as a bearer token. Keys sit in tiers with their own limits;
// operators may move a key to another tier or give it a limit of its own,
// list keys and revoke them; a holder may revoke its own key.
//
// Only a SHA-256 hash of each 256-bit secret is stored. A revoked key is
// refused at once by the instance that revoked it and by every other
// instance within Config.StatusTTL (default 5 s), both as an API key and
// through the tokens minted for it: every request looks the key's status up
// in a small in-process cache of that age.
//
// Service.Middleware wraps the open-data API: it identifies the caller,
// charges its budget in the shared Redis limiter (package ratelimit), sets
// the RateLimit-* headers of draft-ietf-httpapi-ratelimit-headers on every
// answer, answers 429 with Retry-After over the limit and 401 for a wrong
// or revoked key, and puts the Caller in the request context.
package apikeys
