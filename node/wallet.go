package node

import (
	"net/http"
	"time"

	"govx/casework/wallet"
	"govx/catalog"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/ratelimit"
	"govx/internal/redis"
)

// startWallet serves the applicants' wallet beside the case workflow: it
// asks the exchange's own query API, as the service center, under each
// holder's wallet consent; verification codes are checked by anyone, on
// one budget per address across instances; proofs of accesses are
// exported from the ledger with the node's checkpoint key.
func (n *Node) startWallet(mux *http.ServeMux, verifier *auth.Verifier, rdb *redis.Client) error {
	client, err := exchange.NewClient(n.httpURL, nil)
	if err != nil {
		return err
	}
	key := n.Key
	tokens := func(scopes []string) (string, error) {
		return key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: "svc:wallet", Dept: wallet.Consumer,
			Role: "service", Scopes: scopes, TTL: 2 * time.Minute})
	}
	svc, err := wallet.New(wallet.Config{Pool: n.Pool, Exchange: client, Consents: n.Consents, Seals: n.Seals, Tokens: tokens, Logger: n.log})
	if err != nil {
		return err
	}
	lim, err := ratelimit.New(ratelimit.Config{Redis: rdb, Logger: n.log})
	if err != nil {
		return err
	}
	n.Wallet = svc
	n.WalletProofs = &wallet.Proofs{Pool: n.Pool, Providers: BusKeySource(catalog.NewStore(n.Pool)), Key: n.Key}
	n.WalletGuard = wallet.NewGuard(lim)
	h, err := wallet.NewHandler(wallet.HandlerConfig{Wallet: svc, Proofs: n.WalletProofs, Guard: n.WalletGuard, Verifier: verifier, Logger: n.log})
	if err != nil {
		return err
	}
	for _, route := range wallet.Routes {
		mux.Handle(route, h)
	}
	return nil
}
