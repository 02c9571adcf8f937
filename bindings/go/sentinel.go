package redcore

// Sentinel: a client opened with a redis+sentinel://host:port,host:port/service URL asks the
// sentinels for the service's master, connects to it, and follows failovers by itself
// (commands wait while the master is replaced). These are its counters.

// #include <redcore.h>
import "C"

import "runtime"

// SentinelStats are the counters of a client opened through Sentinel.
type SentinelStats struct {
	Discoveries       uint64 // discoveries started (at start, on sentinel events and errors, periodically)
	DiscoveryFailures uint64 // discoveries that found no master
	MasterChanges     uint64 // times the master changed
	Events            uint64 // sentinel events about the service received
	Holds             uint64 // times commands were held for a failover of the master
	Parked            uint64 // commands kept in the client until they could be sent
	Subscribed        uint64 // sentinels whose events the client receives now
	Sentinels         uint64 // sentinels known now
}

// SentinelStats reads the counters; ErrInvalidArgument for a client not opened through
// Sentinel.
func (c *Client) SentinelStats() (SentinelStats, error) {
	var s SentinelStats
	fields := []*uint64{&s.Discoveries, &s.DiscoveryFailures, &s.MasterChanges, &s.Events, &s.Holds,
		&s.Parked, &s.Subscribed, &s.Sentinels}
	counters := []C.int{C.REDCORE_SENTINEL_COUNTER_DISCOVERIES, C.REDCORE_SENTINEL_COUNTER_DISCOVERY_FAILURES,
		C.REDCORE_SENTINEL_COUNTER_MASTER_CHANGES, C.REDCORE_SENTINEL_COUNTER_EVENTS,
		C.REDCORE_SENTINEL_COUNTER_HOLDS, C.REDCORE_SENTINEL_COUNTER_PARKED,
		C.REDCORE_SENTINEL_COUNTER_SUBSCRIBED, C.REDCORE_SENTINEL_COUNTER_SENTINELS}
	err := c.e.counters(counters, fields, func(cl *C.redcore_client, which C.int, out *C.uint64_t, cerr **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_client_sentinel_counter(cl, which, out, cerr)
	})
	runtime.KeepAlive(c)
	return s, err
}
