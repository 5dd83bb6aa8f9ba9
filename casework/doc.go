// Package casework is the one-window case workflow, the exchange's primary
// consumer: a clerk at the window opens a case for a service item (Item,
// Catalogue) for a person or a company, and the materials the item needs
// are verified through the exchange (Exchange), with the consents the
// applicant gives at intake, instead of being asked of the applicant.
// Missing materials may be accepted under a supplement deadline or replaced
// by a written commitment checked later. Accepted cases go to every
// reviewing department; an approved case's result is issued (a licence
// through the licensing department's adapter, Issuer) and handed over at
// the window. Deadlines run in working days (Clock) and turn yellow and red;
// the applicant looks progress up and rates the result with the case number
// and the last four characters of their identifier.
//
// Case holds the rules of a case's life; Service carries out each step for
// an authorised caller (its methods are filed by stage: intake.go,
// verification.go, review.go, issuing.go, background.go), and Store keeps
// cases, their history and the case events of its Outbox in PostgreSQL,
// each change in one transaction under the case's row lock. Service.Run
// retries what the exchange or the licensing department did not answer and
// sweeps deadlines; Service.FollowChanges records the registers' change
// events (a licence revoked, a company deregistered), read through the
// exchange's subscription, on the open cases that relied on them. NewHandler serves the case API (/v1/cases…, OpenAPI); package web
// holds the clerks', reviewers' and supervisors' pages.
//
// In a federation of nodes a window takes in items that another node's
// departments decide (crossregion.go): the accepted case is submitted
// there, decided and issued there on that node's calendar, and mirrored
// here, where the result is handed out.
package casework
