package node

import (
	"context"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/catalog"
	"govx/consent"
	"govx/internal/auth"
)

// DemoCase is the case the demo's consents and lookups are for.
const DemoCase = "demo-0001"

// DemoClerk is the service center's window clerk of the demo.
var DemoClerk = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "clerk:demo-window"},
	Dept: catalog.DeptServiceCenter, Role: consent.RoleClerk}

// seedDemoConsents records, as if the applicants had agreed at the
// window, the consents the banner's company and licence lookups rely on —
// unless an active one is there from an earlier run. The resident's
// consent is left for the newcomer to record (the banner shows how).
func seedDemoConsents(ctx context.Context, store *consent.Store, company, licenceHolder string) error {
	want := []consent.Request{
		{Subject: company, Items: []consent.Item{{Resource: legalentity.ResourceBasic}}},
		{Subject: licenceHolder, Items: []consent.Item{{Resource: licence.ResourceFoodBusiness}, {Resource: licence.ResourceByHolder}}},
	}
	for _, r := range want {
		if r.Subject == "" {
			continue
		}
		have, err := store.OfSubject(ctx, r.Subject, 50)
		if err != nil {
			return err
		}
		covered := false
		for _, c := range have {
			if c.Status == consent.Active && c.CaseID == DemoCase && c.Covers(r.Items[0].Resource, nil) {
				covered = true
			}
		}
		if covered {
			continue
		}
		r.Consumer, r.CaseID, r.PurposeCode = catalog.DeptServiceCenter, DemoCase, "demo-application"
		r.Purpose = "Demo application at the one-stop window: check the applicant's registration and licences"
		r.ValidUntil = time.Now().Add(30 * 24 * time.Hour)
		if _, err := store.Create(ctx, DemoClerk, r); err != nil && govx.ErrorKind(err) != govx.KindInvalid {
			return err
		}
	}
	return nil
}
