package redcore

// Credentials from Go code: a provider asked at every connect and reconnect (for rotating
// passwords and tokens), and re-authentication of a running client.

// #include <stdlib.h>
// #include <redcore.h>
// extern bool redcoreGoCredentials(void *userdata, redcore_credentials *out);
// extern void redcoreGoRelease(void *userdata);
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// Credentials are what a CredentialProvider hands out. Lifetime is how long they stay valid
// (a token's), 0 for no expiry: the client asks again before they run out and
// re-authenticates its connections.
type Credentials struct {
	Username string // "" for the default user
	Password string
	Lifetime time.Duration
}

// CredentialProvider returns the credentials to connect with. It runs on a library thread,
// at every connect and reconnect, and should return quickly (fetch tokens ahead of time,
// hand out the latest here). An error fails the connection with ErrAuthentication, its text
// quoted (so it must not hold a secret).
type CredentialProvider func() (Credentials, error)

// WithCredentialProvider makes p the source of the username and password (instead of the
// URL's or WithPassword's).
func WithCredentialProvider(p CredentialProvider) Option {
	return func(cfg *config) error {
		var cerr *C.redcore_error
		// On failure the library releases the handle at once.
		code := C.redcore_config_set_credential_provider(cfg.c,
			C.redcore_credentials_callback(C.redcoreGoCredentials), newHandle(p),
			C.redcore_userdata_free(C.redcoreGoRelease), &cerr)
		return check(code, cerr)
	}
}

// provideCredentials runs a provider for the library (see trampolines.go).
func provideCredentials(p CredentialProvider, out *C.redcore_credentials) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			msg := C.CString(fmt.Sprintf("the credential provider panicked: %v", r))
			C.redcore_credentials_set_error(out, msg)
			C.free(unsafe.Pointer(msg))
			ok = false
		}
	}()
	creds, err := p()
	if err != nil {
		msg := C.CString(err.Error())
		defer C.free(unsafe.Pointer(msg))
		C.redcore_credentials_set_error(out, msg)
		return false
	}
	var user *C.char
	if creds.Username != "" {
		user = C.CString(creds.Username)
		defer C.free(unsafe.Pointer(user))
	}
	pass := C.CString(creds.Password)
	defer C.free(unsafe.Pointer(pass))
	code := C.redcore_credentials_set(out, user, pass, C.size_t(len(creds.Password)),
		C.uint64_t(creds.Lifetime.Milliseconds()))
	return code == C.REDCORE_OK
}

// Reauthenticate switches the running client to new credentials without dropping a
// connection: AUTH goes out on every live connection after the commands already queued
// there. An empty password asks the credential provider instead. Returns the first
// refusal (errors.Is(err, ErrAuthentication) for a wrong password).
func (c *Client) Reauthenticate(ctx context.Context, username, password string) error {
	defer runtime.KeepAlive(c)
	if ctx.Err() != nil {
		return contextError(ctx)
	}
	var user, pass *C.char
	if username != "" {
		user = C.CString(username)
		defer C.free(unsafe.Pointer(user))
	}
	if password != "" {
		pass = C.CString(password)
		defer C.free(unsafe.Pointer(pass))
	}
	e := c.e
	e.use.RLock()
	defer e.use.RUnlock()
	if e.client == nil {
		return closedError()
	}
	var cerr *C.redcore_error
	code := C.redcore_client_reauthenticate_blocking(e.client, user, pass, C.size_t(len(password)), nil, &cerr)
	return check(code, cerr)
}
