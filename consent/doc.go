// Package consent is the data subject's consent: who may fetch which
// resources about whom, for what purpose and until when.
//
// A Consent is given by a data subject — a person (resident ID number) or a
// company (unified social credit code) — to one consumer department, for
// named resources and fields, one purpose and, where given, one case. It is
// recorded at the window when the applicant agrees (the case workflow calls
// Create with a clerk's token) or by the data subject directly, and only the
// data subject revokes, pauses or resumes it. Every consent is also issued
// as a signed artefact: a JWS (EdDSA) by the consent service's key, whose
// public half is published as a JWKS, so anyone can check offline what was
// agreed.
//
// The exchange asks a Cache before it lets personal fields leave: the cache
// answers from memory and is invalidated on every instance through Redis
// (redis.Watch), so a revocation holds everywhere within a second. A
// once-only consent is used up by the first access it allows (Store.Use).
package consent
