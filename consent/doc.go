// Package consent is where the data subject's consent will live: who may
// fetch which resources about whom, for what purpose and until when, and the
// data subject's view of who accessed their data. Until it exists the
// exchange serves only resources whose sharing needs no consent check.
package consent
