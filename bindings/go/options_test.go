package redcore_test

import (
	"errors"
	"testing"
	"time"

	"redcore"
)

// An integer option whose value its C setting cannot hold is refused, rather than wrapped
// into another value: WithDB(1<<32) used to select database 0 and WithDB(-1) database
// 4294967295, WithMaxDedicatedConnections(-1) meant SIZE_MAX, and a negative timeout meant
// none.
func TestOptionsRefuseOutOfRangeValues(t *testing.T) {
	bad := map[string]redcore.Option{
		"WithDB(1<<32)":                   redcore.WithDB(1 << 32),
		"WithDB(-1)":                      redcore.WithDB(-1),
		"WithProtocol(1<<32 + 3)":         redcore.WithProtocol(1<<32 + 3),
		"WithConnectionsPerNode(-1)":      redcore.WithConnectionsPerNode(-1),
		"WithMaxDedicatedConnections(-1)": redcore.WithMaxDedicatedConnections(-1),
		"WithReactorThreads(-1)":          redcore.WithReactorThreads(-1),
		"WithCommandTimeout(-1s)":         redcore.WithCommandTimeout(-time.Second),
		"WithConnectTimeout(-1s)":         redcore.WithConnectTimeout(-time.Second),
		"WithHealthCheck(-1s)":            redcore.WithHealthCheck(-time.Second),
		"WithCache(-1, 0)":                redcore.WithCache(-1, 0),
	}
	for name, opt := range bad {
		c, err := redcore.Open(server.url(), opt)
		if err == nil {
			c.Close()
		}
		if !errors.Is(err, redcore.ErrInvalidArgument) {
			t.Errorf("%s: Open gave %v, want ErrInvalidArgument", name, err)
		}
	}
	// In range is still taken.
	c := open(t, redcore.WithDB(15), redcore.WithMaxDedicatedConnections(0), redcore.WithCommandTimeout(0))
	if err := c.Set(waitCtx(t), key(t, "k"), "v"); err != nil {
		t.Fatal(err)
	}
}
