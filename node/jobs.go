package node

import (
	"context"
	"govx/catalog"
	"govx/exchange"
	"log/slog"
	"time"
)

// startCheckpointer signs the audit chain head every CheckpointInterval
// beside the ledger until Close. Every exchange instance runs one; they
// agree through the database on who signs which head.
func (n *Node) startCheckpointer() error {
	cp, err := exchange.NewCheckpointer(n.Pool, n.Key, exchange.CheckpointConfig{Interval: n.cfg.CheckpointInterval, Logger: n.log})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cp.Run(ctx)
	}()
	n.onClose(func() { stop(); <-done })
	return nil
}

// expireGrants moves approved grants past their period to expired, once a
// minute, until the returned stop is called. The exchange refuses them by
// their dates anyway; this keeps their status honest for listings.
func expireGrants(grants *catalog.GrantStore, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			if n, err := grants.ExpireDue(ctx); err != nil && ctx.Err() == nil {
				log.Error("expiring grants", "err", err)
			} else if n > 0 {
				log.Info("grants expired", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
