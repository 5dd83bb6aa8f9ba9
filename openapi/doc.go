// Package openapi is the open-data API for third parties, under /open/v1:
// a searchable dataset catalogue (also as DCAT in JSON-LD), record queries
// with typed filters, sort and cursor paging, streamed CSV and JSON exports,
// and its own OpenAPI 3.1 document and documentation page.
//
// A dataset's versions are immutable typed tables in PostgreSQL (Store).
// Departments publish a version by uploading CSV (Load, LoadIndexed) or from
// their own system for an open-class catalogue resource (PublishSource);
// readers get the latest version or a named one. NewHandler serves the API;
// Extensions add routes and their OpenAPI fragment beside it, such as the
// API keys, tokens and rate limits of package apikeys. (The exchange's own
// API document is exchange/openapi.json.)
package openapi
