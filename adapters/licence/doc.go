// Package licence is the licensing department's reference adapter: the
// electronic licence register (电子证照库) with food business, pharmacy,
// construction work safety and road transport licences, each sealed by its
// issuing authority.
//
// A seal is an Ed25519 signature over the licence's canonical form
// (Canonical). The authorities' public keys are registered in the
// catalogue (catalog.DepartmentKeys, served as a JWKS by
// catalog.NewKeysHandler), so a consumer that received a licence through
// the exchange checks it offline with VerifySeal, or with a KeySet fetched
// once by FetchKeySet. The private keys stay in the department, in
// licence.issuer_keys.
//
// The register answers licence.<type> by licence number and
// licence.by-holder by a holder's unified social credit code or resident ID
// number; revocations are published as "licence.revoked" events through the
// department's outbox.
//
// Licences are issued on order: the case workflow sends an Order through
// the exchange's API with an Issuer, the department's adapter (RegisterIssuing, the
// licence.issue command) issues it with Store.IssueOrder, once per order
// reference, announces it as a "licence.issued" event and answers with the
// sealed licence. Synthetic data comes from Generator, whose holders
// are drawn from the legal-entity and population registers through Holders.
package licence
