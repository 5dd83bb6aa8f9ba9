package main

import (
	"fmt"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/catalog"
	"govx/consent"
	"govx/internal/auth"
	"govx/node"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// bannerTokenTTL is how long the tokens the banner prints are valid: the
// banner ends up wherever the output is captured (a terminal's scrollback,
// a log collector), so its tokens expire soon; 'govx token' mints more.
const bannerTokenTTL = time.Hour

// printBanner tells a newcomer what runs where and what to try first.
func printBanner(w io.Writer, n *node.Node, cfg node.Config, keys node.Demo) {
	scopes := []string{population.ResourceIdentity, catalog.DemoHousehold, legalentity.ResourceBasic, legalentity.ResourceStatus,
		licence.ResourceFoodBusiness, licence.ResourceByHolder}
	tok, err := n.Key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: node.DemoClerk.Subject,
		Dept: catalog.DeptServiceCenter, Role: consent.RoleClerk, Scopes: scopes, TTL: bannerTokenTTL})
	if err != nil {
		tok = "(could not mint: " + err.Error() + ")"
	}
	person, company, licenceNo := keys.Person, keys.Company, keys.Licence
	citizen, err := n.Key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: person, Role: consent.RoleCitizen, TTL: bannerTokenTTL})
	if err != nil {
		citizen = "(could not mint: " + err.Error() + ")"
	}
	consentCurl := fmt.Sprintf(`  curl -s -X POST %s/v1/consents \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"subject":"%s","case_id":"%s","purpose_code":"demo-application",
         "purpose":"Verify the applicant for a food business licence",
         "resources":[{"resource":"population.identity"},
           {"resource":"population.household","fields":["household_no","head_name","address","division_code"]}],
         "valid_until":"%s"}'`,
		n.URL(), person, node.DemoCase, time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339))
	curl := func(resource, key, fields string) string {
		return fmt.Sprintf(`  curl -s -X POST %s/v1/resources/%s/query \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"key":"%s",%s"purpose":"case:%s"}'`, n.URL(), resource, key, fields, node.DemoCase)
	}
	fmt.Fprintf(w, `
govx is up.

  exchange API      %[1]s   (OpenAPI: %[1]s/v1/openapi.json)
  catalogue API     %[1]s/v1/catalog/resources   (%[1]s/v1/catalog/openapi.json)
  schema registry   %[1]s/registry/subjects   (Confluent-compatible)
  JWKS              %[1]s/.well-known/jwks.json
  health            %[1]s/healthz
  metrics           %[1]s/metrics   (role operator: %[13]s token --role operator)
  window (demo)     %[1]s/ui/   (one-click demo sign-in from this computer only)
  service hall      %[1]s/hall/   (applicants sign in through the demo identity provider at %[1]s/idp/)
  open data API     %[1]s/open/v1/docs   (try: curl '%[1]s/open/v1/datasets/air-quality/records?filter=pm25:gt:60&sort=-pm25&limit=5')
  Kafka (embedded)  %[2]s   (SASL on; look with %[13]s bus topics, %[13]s bus tail TOPIC)
  PostgreSQL        %[3]s
  Redis             %[4]s
  data folder       %[5]s
  adapters          population (%[6]d residents), market-regulation (%[7]d companies),
                    licensing (%[8]d licences)

Try a lookup as the service center's window clerk (this token and CITIZEN
below are valid for one hour; mint more with 'govx token'):

  TOKEN=%[9]s

A resident. Personal data leaves only with the data subject's consent, so
this first answers 403 consent_required:
%[10]s

Record the applicant's consent, as the clerk does at the window (it comes back
with a signed artefact; keys at %[1]s/v1/consents/keys):
%[14]s

and ask again. The resident, signed in as themselves, sees every access to
their data and their consents, and can revoke one (POST
/v1/consents/{id}/revoke) — then the lookup is refused within a second:

  CITIZEN=%[15]s
  curl -s -H "Authorization: Bearer $CITIZEN" %[1]s/v1/subjects/%[16]s/accesses
  curl -s -H "Authorization: Bearer $CITIZEN" %[1]s/v1/subjects/%[16]s/consents

A company and its legal representative's name (the company's consent for
case %[17]s was recorded at start-up):
%[11]s

A food business licence, sealed by its issuer (its holder's consent was
recorded at start-up; verify the seal offline with the keys at
%[1]s/v1/catalog/departments/licensing/keys):
%[12]s

The same token reads the resident's population.household, shared on
conditions, through the service center's grant: household_no, head_name,
address and division_code are granted (try "fields":["head_name","address"]);
"members" is refused with field_not_granted. See the grants: %[13]s grant list

Watch changes as they happen (a resident's status, a licence revoked):
  curl -N -H "Authorization: Bearer $TOKEN" '%[1]s/v1/resources/legal-entity.status/events?purpose=case:demo-0001'

Then check the audit trail (hash chain and signed checkpoints) and list it as
an operator sees it, ID numbers masked:
  %[13]s audit verify
  %[13]s audit list --limit 10
Press Ctrl-C to stop; data is kept for the next run.
`, n.URL(), strings.Join(n.Brokers, ","), redact(cfg.PostgresURL), cfg.RedisURL, cfg.DataDir,
		cfg.Residents, node.DemoCompanies, node.DemoLicences, tok,
		curl(population.ResourceIdentity, person, `"fields":["name","sex","birth_date","address"],`),
		curl(legalentity.ResourceBasic, company, `"fields":["name","status","legal_representative"],`),
		curl(licence.ResourceFoodBusiness, licenceNo, ""),
		self(), consentCurl, citizen, person, node.DemoCase)
}

// self is how the user can run this binary again from where they are.
func self() string {
	exe, err := os.Executable()
	if err != nil {
		return "govx"
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + rel
		}
	}
	return exe
}

// redact hides a password in a URL before it is printed.
func redact(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 {
		return u
	}
	userinfo := u[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		return u[:scheme+3] + userinfo[:i] + ":***" + u[at:]
	}
	return u
}

// printWindow tells a newcomer where the one-stop window is and what to
// try there.
func printWindow(w io.Writer, n *node.Node, keys node.Demo) {
	fmt.Fprintf(w, `
The one-stop window, in a browser (Chinese; English at the top right):

  %[1]s/ui/            sign in as a demo clerk, reviewer or supervisor
  %[1]s/ui/progress    an applicant's progress lookup: case number + last 4 characters of the ID
  %[1]s/v1/cases/openapi.json   the case workflow's JSON API
`, n.URL())
	if len(keys.Applicants) > 0 {
		a := keys.Applicants[0]
		fmt.Fprintf(w, `
As the clerk, open 食品经营许可（延续） (food business licence renewal) for
  company          %s  %s
  representative   %s  %s
  current licence  %s
The registration, the representative's identity and the licence with its
issuer's seal are verified through the exchange, in parallel: no paper.
`, a.Company.USCC, a.Company.Name, a.Company.RepresentativeID, a.Company.LegalRepresentative, a.Licence.Number)
	}
	for _, c := range keys.Cases {
		fmt.Fprintf(w, "Case %s (%s) waits in the back office of %s.\n", c.ID, c.Item, strings.Join(c.PendingDepts(), ", "))
	}
}
