package main

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// paced makes the requests next makes start at most rate a second in all,
// however many workers call it: an open-loop load at a steady rate, as for a
// soak, instead of the closed loop's as-fast-as-answered. rate <= 0 leaves
// next as it is.
func paced(rate float64, next func(*rand.Rand) *http.Request) func(*rand.Rand) *http.Request {
	if rate <= 0 {
		return next
	}
	interval := time.Duration(float64(time.Second) / rate)
	var (
		mu   sync.Mutex
		slot time.Time
	)
	return func(rng *rand.Rand) *http.Request {
		mu.Lock()
		now := time.Now()
		// A worker that fell behind does not earn a burst to catch up.
		if slot = slot.Add(interval); slot.Before(now) {
			slot = now
		}
		at := slot
		mu.Unlock()
		time.Sleep(time.Until(at))
		return next(rng)
	}
}
