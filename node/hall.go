package node

import (
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"govx/adapters/population"
	"govx/casework"
	"govx/casework/web"
	"govx/catalog"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/idp"
)

// The online service hall (/hall/) and, in the demo, the identity
// provider it signs applicants in through (/idp/).

// Paths of the hall and the demo identity provider.
const (
	HallPrefix = "/hall/"
	IdPPath    = "/idp"
	// DemoHallClient is the hall's client id at the demo identity
	// provider, the audience of the ID tokens it issues.
	DemoHallClient = "govx-hall"
)

// hallEnabled reports whether the node serves the hall: beside the case
// workflow, when applicants have an identity provider to sign in through.
func (c *Config) hallEnabled() bool {
	return c.Casework && (c.DemoIdP || c.OIDC.Enabled())
}

// demoOIDC is the verifier's configuration for the demo identity provider
// served at base + IdPPath: its ID tokens, for the hall, are accepted as
// the tokens of the residents and companies they name.
func demoOIDC(base string) auth.OIDCConfig {
	return auth.OIDCConfig{Issuer: base + IdPPath, Audience: DemoHallClient}
}

// mountDemoIdP serves the demo identity provider at base + IdPPath, for the
// hall at hallURL, with demo residents and companies of the registers to
// sign in as. Its key is <DataDir>/keys/idp.
func (n *Node) mountDemoIdP(mux *http.ServeMux, base, redirect string) error {
	key, err := auth.LoadOrCreateKey(filepath.Join(n.cfg.DataDir, "keys", "idp"))
	if err != nil {
		return err
	}
	p, err := idp.New(idp.Config{Issuer: base + IdPPath, Key: key, Users: DemoIdPUsers(n.cfg.Residents, time.Now()),
		Clients: []idp.Client{{ID: DemoHallClient, RedirectURIs: []string{redirect}}}, Logger: n.log})
	if err != nil {
		return err
	}
	mux.Handle(p.Prefix(), p)
	return nil
}

// DemoIdPUsers are the people the demo identity provider offers: a few
// residents of the demo population register, and companies of the demo
// registers that are in business with a living legal representative and
// a valid food business licence (so each demo item can be applied for).
func DemoIdPUsers(residents int, today time.Time) []idp.User {
	var out []idp.User
	g, err := NewGenerators(DemoRegisters(residents))
	if err != nil {
		return nil
	}
	for i := 0; i < residents && len(out) < 3; i++ {
		if r := g.People.Resident(i); r.Status == population.StatusNormal {
			out = append(out, idp.User{Subject: r.IDNumber, Role: idp.RoleCitizen, Name: r.Name, Note: r.Address})
		}
	}
	companies, _ := IntakeApplicants(residents, 3, today)
	for _, c := range companies {
		out = append(out, idp.User{Subject: c.Company.USCC, Role: idp.RoleLegalPerson, Name: c.Company.Name,
			Note: "法定代表人 " + c.Company.LegalRepresentative})
	}
	return out
}

// mountHall serves the online service hall beside the window, signing
// applicants in through the government's identity provider (Config.OIDC)
// or, in the demo, the demo provider.
func (n *Node) mountHall(mux *http.ServeMux, base string, svc *casework.Service, verifier *auth.Verifier,
	audit *ledger.Ledger, guard *casework.ProgressGuard) error {
	public := strings.TrimSuffix(base, "/")
	if n.cfg.PublicURL != "" {
		public = strings.TrimSuffix(n.cfg.PublicURL, "/")
	}
	redirect := public + HallPrefix + "callback"
	signIn := &web.SignIn{Issuer: n.cfg.OIDC.Issuer, ClientID: n.cfg.OIDC.Audience, ClientSecret: n.cfg.HallClientSecret,
		RedirectURL: redirect}
	if n.cfg.DemoIdP {
		if err := n.mountDemoIdP(mux, base, redirect); err != nil {
			return err
		}
		o := demoOIDC(base)
		signIn.Issuer, signIn.ClientID, signIn.ClientSecret = o.Issuer, o.Audience, ""
	}
	hcfg := web.Config{Verifier: verifier, Logger: n.log, Prefix: HallPrefix, Cases: svc, Refusals: n.refusals,
		Progress: guard, Resources: catalog.NewStore(n.Pool), Accesses: audit, SecureCookies: n.cfg.secureCookies(), SignIn: signIn,
		Consents: n.Consents}
	if n.Wallet != nil {
		hcfg.Wallet, hcfg.Proofs, hcfg.VerifyGuard = n.Wallet, n.WalletProofs, n.WalletGuard
	}
	hall, err := web.NewHall(hcfg)
	if err != nil {
		return err
	}
	mux.Handle(hall.Prefix(), hall)
	return nil
}
