// Package wallet is the applicant's wallet and data view in the online
// service hall: the licences and certificates the registers hold about a
// person or a company, each with its seal checked, a verification code and
// QR code that anyone can check on a public page, a PDF copy, and per
// access to the applicant's data a proof from the audit ledger.
//
// A person's token never queries a register (catalog.ActAs). The wallet
// asks the exchange as the service center (catalog.DeptServiceCenter),
// under the holder's own consent with the purpose code PurposeCode, which
// the holder records by opening the wallet (Service.Open) and can pause or
// revoke like any consent. Every fetch is so an access of the ledger, and
// shows among the holder's accesses. The public verification of a code
// asks the register the same way, under the same consent: a holder who
// pauses it stops their codes from verifying.
//
// The public verification page (Service.Verify) shows the licence type,
// the masked number, the issuing authority, the validity, the status now
// and the seal result: never the holder's name or code. A code is 50
// random bits; an unknown code, a withdrawn consent and an unreachable
// register all answer the same: unverifiable.
//
// The PDF copy is set in Latin script with the PDF's core fonts, so that
// no CJK font has to ship with govx: labels are English, the licence type
// is named in English, and the Chinese characters of a licence number are
// given in pinyin. The Chinese face of the licence is what the
// verification code leads to.
package wallet
