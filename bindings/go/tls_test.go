package redcore_test

import (
	"errors"
	"fmt"
	"testing"

	"redcore"
)

func TestTLS(t *testing.T) {
	if tls == nil || server.tlsPort == 0 {
		t.Skip("openssl is not installed: no TLS port")
	}
	url := fmt.Sprintf("rediss://127.0.0.1:%d", server.tlsPort)
	c := openURL(t, url, redcore.WithTLSCAFile(tls.ca))
	if s, _ := mustDo(t, c, "PING").Text(); s != "PONG" {
		t.Fatalf("PING over TLS: %q", s)
	}
	mutual := openURL(t, url, redcore.WithTLSCAFile(tls.ca), redcore.WithTLSClientCert(tls.cert, tls.key))
	mustDo(t, mutual, "PING")

	// A server whose CA is not trusted, or whose certificate names another host: a TLS error,
	// which is a connection error.
	_, err := redcore.Open(url)
	if !errors.Is(err, redcore.ErrTLS) || !errors.Is(err, redcore.ErrConnection) {
		t.Errorf("unknown CA: %v", err)
	}
	_, err = redcore.Open(url, redcore.WithTLSCAFile(tls.ca), redcore.WithTLSServerName("elsewhere.example"))
	if !errors.Is(err, redcore.ErrTLS) {
		t.Errorf("name mismatch: %v", err)
	}
	// TLS turned on by an option, on the plain URL's host and TLS port.
	opt := openURL(t, fmt.Sprintf("redis://127.0.0.1:%d", server.tlsPort), redcore.WithTLS(), redcore.WithTLSCAFile(tls.ca))
	mustDo(t, opt, "PING")
}
