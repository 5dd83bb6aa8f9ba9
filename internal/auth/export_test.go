package auth

// CacheLen reports how many tokens v holds in its cache.
func CacheLen(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}
