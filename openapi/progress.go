package openapi

import (
	"sync"
	"sync/atomic"
	"time"
)

// Upload phases, as UploadProgress reports them.
const (
	PhaseLoading  = "loading"  // rows are read, checked and copied in
	PhaseIndexing = "indexing" // every row is in; the indexes are being built
)

// UploadProgress is how far the load of a new version has got.
type UploadProgress struct {
	Dataset   string    `json:"dataset"`
	Publisher string    `json:"publisher"`
	Phase     string    `json:"phase"`
	Rows      int64     `json:"rows"` // rows checked and copied in so far
	StartedAt time.Time `json:"started_at"`
}

// uploads are the loads running in this process, by dataset: at most one
// per dataset, since a load holds its dataset's row lock.
type uploads struct {
	mu sync.Mutex
	m  map[string]*upload
}

type upload struct {
	publisher string
	started   time.Time
	rows      atomic.Int64
	phase     atomic.Value // string
}

func (u *uploads) start(dataset, publisher string) *upload {
	up := &upload{publisher: publisher, started: time.Now().UTC()}
	up.phase.Store(PhaseLoading)
	u.mu.Lock()
	if u.m == nil {
		u.m = map[string]*upload{}
	}
	u.m[dataset] = up
	u.mu.Unlock()
	return up
}

func (u *uploads) end(dataset string, up *upload) {
	u.mu.Lock()
	if u.m[dataset] == up {
		delete(u.m, dataset)
	}
	u.mu.Unlock()
}

// Upload reports the load of a new version of dataset running in this
// process (an upload or a source publication), if there is one. A load
// running on another instance behind the same address is not seen here.
func (s *Store) Upload(dataset string) (UploadProgress, bool) {
	s.uploads.mu.Lock()
	up, ok := s.uploads.m[dataset]
	s.uploads.mu.Unlock()
	if !ok {
		return UploadProgress{}, false
	}
	return UploadProgress{Dataset: dataset, Publisher: up.publisher, Phase: up.phase.Load().(string),
		Rows: up.rows.Load(), StartedAt: up.started}, true
}
