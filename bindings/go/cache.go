package redcore

// Client-side caching (the library's, RESP3 only): replies to the read-only commands of its
// allow-list (GET, MGET, HGET, HGETALL, SMEMBERS, ...: see the README) are kept in the
// library and answered from there until the server says one of their keys changed.

// #include <redcore.h>
import "C"

import "runtime"

// WithCache turns client-side caching on: at most maxEntries replies and maxBytes bytes,
// the least recently used dropped first (0 for either: 10,000 entries, 64 MiB). The server
// tracks the keys each connection read (CLIENT TRACKING) and tells the client when one
// changes. Needs RESP3, the default (with WithProtocol(2) Open fails with
// ErrInvalidArgument).
func WithCache(maxEntries, maxBytes int) Option {
	return func(cfg *config) error {
		if maxEntries < 0 || maxBytes < 0 {
			return &Error{Code: CodeInvalidArgument, Message: "the cache's bounds must not be negative"}
		}
		var cerr *C.redcore_error
		return check(C.redcore_config_set_cache(cfg.c, true, C.size_t(maxEntries), C.size_t(maxBytes), &cerr), cerr)
	}
}

// CacheStats are the counters of a client's cache.
type CacheStats struct {
	Hits          uint64 // reads answered from the cache
	Misses        uint64 // cacheable reads sent to the server
	Evictions     uint64 // replies dropped to stay within the bounds
	Invalidations uint64 // replies (and reads in flight) dropped because a key they read changed
	Flushes       uint64 // times the whole cache was emptied (a lost connection, ...)
	Entries       uint64 // replies held now
	Bytes         uint64 // bytes held now
}

// CacheStats reads the cache's counters; ErrInvalidArgument for a client without a cache.
func (c *Client) CacheStats() (CacheStats, error) {
	var s CacheStats
	fields := []*uint64{&s.Hits, &s.Misses, &s.Evictions, &s.Invalidations, &s.Flushes, &s.Entries, &s.Bytes}
	counters := []C.int{C.REDCORE_CACHE_COUNTER_HITS, C.REDCORE_CACHE_COUNTER_MISSES,
		C.REDCORE_CACHE_COUNTER_EVICTIONS, C.REDCORE_CACHE_COUNTER_INVALIDATIONS,
		C.REDCORE_CACHE_COUNTER_FLUSHES, C.REDCORE_CACHE_COUNTER_ENTRIES, C.REDCORE_CACHE_COUNTER_BYTES}
	err := c.e.counters(counters, fields, func(cl *C.redcore_client, which C.int, out *C.uint64_t, cerr **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_client_cache_counter(cl, which, out, cerr)
	})
	runtime.KeepAlive(c)
	return s, err
}

// counters reads counters of the client, one C call each, while it is open.
func (e *engine) counters(which []C.int, into []*uint64, read func(*C.redcore_client, C.int, *C.uint64_t, **C.redcore_error) C.enum_redcore_error_code) error {
	e.use.RLock()
	defer e.use.RUnlock()
	if e.client == nil {
		return closedError()
	}
	for i, w := range which {
		var n C.uint64_t
		var cerr *C.redcore_error
		if err := check(read(e.client, w, &n, &cerr), cerr); err != nil {
			return err
		}
		*into[i] = uint64(n)
	}
	return nil
}
