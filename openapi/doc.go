// Package openapi is where the open-data API for third parties will live:
// dataset catalogue, record queries with cursor paging, streamed exports,
// API keys with rate limits. (The exchange's own OpenAPI document is
// exchange/openapi.json.)
package openapi
