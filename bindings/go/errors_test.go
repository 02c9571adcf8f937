package redcore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"redcore"
)

func TestTaxonomy(t *testing.T) {
	cases := []struct {
		code, ancestor redcore.Code
		want           bool
	}{
		{redcore.CodeAuthentication, redcore.CodeConnection, true},
		{redcore.CodeAuthentication, redcore.CodeRedis, true},
		{redcore.CodeTimeout, redcore.CodeConnection, false},
		{redcore.CodeMoved, redcore.CodeAsk, true},
		{redcore.CodeMoved, redcore.CodeResponse, true},
		{redcore.CodeClusterDown, redcore.CodeCluster, true},
		{redcore.CodeClusterDown, redcore.CodeResponse, true},
		{redcore.CodeMasterDown, redcore.CodeResponse, true},
		{redcore.CodeTLS, redcore.CodeConnection, true},
		{redcore.CodeProtocol, redcore.CodeInvalidResponse, true},
		{redcore.CodeLockNotOwned, redcore.CodeLock, true},
		{redcore.CodeSlotNotCovered, redcore.CodeClusterException, true},
		{redcore.CodeClusterException, redcore.CodeRedis, false},
	}
	for _, c := range cases {
		if got := c.code.Is(c.ancestor); got != c.want {
			t.Errorf("%v.Is(%v) = %v", c.code, c.ancestor, got)
		}
		err := fmt.Errorf("wrapped: %w", &redcore.Error{Code: c.code, Message: "m"})
		if got := errors.Is(err, &redcore.Error{Code: c.ancestor}); got != c.want {
			t.Errorf("errors.Is(%v, %v) = %v", c.code, c.ancestor, got)
		}
	}
	if n := len(redcore.CodeClusterDown.Parents()); n != 2 {
		t.Errorf("CLUSTER_DOWN has %d parents", n)
	}
	if s := redcore.CodeNoScript.String(); s != "NO_SCRIPT" {
		t.Errorf("name %q", s)
	}
}

func TestErrorsFollowTheHierarchy(t *testing.T) {
	c := open(t)
	ctx := context.Background()
	k := key(t, "list")
	mustDo(t, c, "LPUSH", k, "x")

	_, err := c.Do(ctx, "GET", k)
	var e *redcore.Error
	if !errors.As(err, &e) || e.Code != redcore.CodeResponse || !errors.Is(err, redcore.ErrRedis) ||
		errors.Is(err, redcore.ErrConnection) {
		t.Errorf("WRONGTYPE: %v", err)
	}
	_, err = c.Do(ctx, "EVALSHA", "0000000000000000000000000000000000000000", 0)
	if !errors.Is(err, redcore.ErrNoScript) || !errors.Is(err, redcore.ErrResponse) {
		t.Errorf("NOSCRIPT: %v", err)
	}
	_, err = c.Do(ctx, "WATCH", k)
	if !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Errorf("WATCH on the shared connection: %v", err)
	}

	// A command timeout is a TIMEOUT, not a connection error.
	slow := open(t, redcore.WithCommandTimeout(50*time.Millisecond))
	_, err = slow.Do(ctx, "DEBUG", "SLEEP", "0.3")
	if !errors.Is(err, redcore.ErrTimeout) || errors.Is(err, redcore.ErrConnection) {
		t.Errorf("command timeout: %v", err)
	}

	// Wrong credentials: an AUTHENTICATION error, which is a CONNECTION error.
	mustDo(t, c, "ACL", "SETUSER", "gopher", "on", ">right", "~*", "+@all")
	t.Cleanup(func() { mustDo(t, c, "ACL", "DELUSER", "gopher") })
	_, err = redcore.Open("redis://gopher:wrong@" + server.addr())
	if !errors.Is(err, redcore.ErrAuthentication) || !errors.Is(err, redcore.ErrConnection) ||
		!errors.Is(err, redcore.ErrRedis) {
		t.Errorf("wrong password: %v", err)
	}
	ok := openURL(t, "redis://gopher:right@"+server.addr())
	if who, _ := mustDo(t, ok, "ACL", "WHOAMI").Text(); who != "gopher" {
		t.Errorf("ACL WHOAMI: %q", who)
	}

	// Nobody listening: a CONNECTION error.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err = redcore.Open("redis://"+addr, redcore.WithConnectTimeout(time.Second))
	if !errors.Is(err, redcore.ErrConnection) {
		t.Errorf("refused connection: %v", err)
	}

	// A bad URL or option: INVALID_ARGUMENT.
	if _, err := redcore.Open("nosuch://x"); !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Errorf("bad URL: %v", err)
	}
	if _, err := redcore.Open(server.url(), redcore.WithProtocol(4)); !errors.Is(err, redcore.ErrInvalidArgument) {
		t.Errorf("bad option: %v", err)
	}
}

func TestCredentialProvider(t *testing.T) {
	admin := open(t)
	mustDo(t, admin, "ACL", "SETUSER", "rotating", "on", ">token-1", "~*", "+@all")
	t.Cleanup(func() { mustDo(t, admin, "ACL", "DELUSER", "rotating") })
	before := redcore.LiveHandles()

	asked := 0
	c, err := redcore.Open(server.url(), redcore.WithCredentialProvider(func() (redcore.Credentials, error) {
		asked++
		return redcore.Credentials{Username: "rotating", Password: "token-1"}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if who, _ := mustDo(t, c, "ACL", "WHOAMI").Text(); who != "rotating" || asked == 0 {
		t.Errorf("provider's credentials: %q (asked %d times)", who, asked)
	}
	// Rotate: the server takes a new token, the client re-authenticates with it.
	mustDo(t, admin, "ACL", "SETUSER", "rotating", "resetpass", ">token-2")
	if err := c.Reauthenticate(context.Background(), "rotating", "wrong"); !errors.Is(err, redcore.ErrAuthentication) {
		t.Errorf("Reauthenticate with a wrong password: %v", err)
	}
	if err := c.Reauthenticate(context.Background(), "rotating", "token-2"); err != nil {
		t.Errorf("Reauthenticate: %v", err)
	}
	c.Close()
	if n := redcore.LiveHandles(); n != before {
		t.Errorf("%d handles live after Close, %d before Open", n, before)
	}

	_, err = redcore.Open(server.url(), redcore.WithCredentialProvider(func() (redcore.Credentials, error) {
		return redcore.Credentials{}, errors.New("the vault is sealed")
	}))
	if !errors.Is(err, redcore.ErrAuthentication) {
		t.Errorf("failing provider: %v", err)
	}
	if n := redcore.LiveHandles(); n != before {
		t.Errorf("%d handles live after a failed Open, %d before", n, before)
	}
}
