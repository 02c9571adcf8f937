package redcore

// Options: each sets one knob of the library's config (redcore_config_set_* in C) on top of
// what the URL says.

// #include <stdlib.h>
// #include <redcore.h>
import "C"

import (
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Version is this binding's version, reported to the server with CLIENT SETINFO.
const Version = "0.1.0"

// config is the C config being built by Open.
type config struct {
	c *C.redcore_config
}

func newConfig(url string) (*config, error) {
	curl := C.CString(url)
	defer C.free(unsafe.Pointer(curl))
	cfg := &config{}
	var cerr *C.redcore_error
	if code := C.redcore_config_from_url(curl, &cfg.c, &cerr); code != C.REDCORE_OK {
		return nil, takeError(code, cerr)
	}
	name, version := C.CString("redcore-go"), C.CString(Version)
	defer C.free(unsafe.Pointer(name))
	defer C.free(unsafe.Pointer(version))
	C.redcore_config_set_lib_info(cfg.c, name, version, nil)
	return cfg, nil
}

// Option changes one setting of a client being opened. A value out of its setting's range
// (a negative count or duration, a database above 4294967295, ...) makes Open fail with
// ErrInvalidArgument.
type Option func(*config) error

// setter turns a C setter's result into an Option's.
func check(code C.enum_redcore_error_code, cerr *C.redcore_error) error {
	if code != C.REDCORE_OK {
		return takeError(code, cerr)
	}
	return nil
}

// withString calls a C setter that takes one string.
func withString(value string, set func(*C.redcore_config, *C.char, **C.redcore_error) C.enum_redcore_error_code) Option {
	return func(cfg *config) error {
		s := C.CString(value)
		defer C.free(unsafe.Pointer(s))
		var cerr *C.redcore_error
		return check(set(cfg.c, s, &cerr), cerr)
	}
}

// inRange refuses a value that the C setter's parameter cannot hold, before a conversion
// wraps it into another, valid-looking one (WithDB(1<<32) would select database 0,
// WithMaxDedicatedConnections(-1) would mean SIZE_MAX). The library checks the rest.
func inRange(option string, v, min, max int64) error {
	if v < min || v > max {
		return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("%s: %d is out of range (%d to %d)", option, v, min, max)}
	}
	return nil
}

// notNegative refuses a negative count or duration (0 has a meaning of its own in C).
func notNegative(option string, v int64) error {
	return inRange(option, v, 0, math.MaxInt64)
}

func millis(d time.Duration) C.uint64_t {
	if d <= 0 {
		return 0
	}
	ms := d.Milliseconds()
	if ms == 0 {
		ms = 1
	}
	return C.uint64_t(ms)
}

// WithUsername sets the ACL user (default: "default").
func WithUsername(user string) Option {
	return withString(user, func(c *C.redcore_config, s *C.char, e **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_config_set_username(c, s, e)
	})
}

// WithPassword sets the password (the library overwrites its copy when done with it).
func WithPassword(password string) Option {
	return withString(password, func(c *C.redcore_config, s *C.char, e **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_config_set_password(c, s, e)
	})
}

// WithClientName sets the name every connection gives itself (CLIENT SETNAME).
func WithClientName(name string) Option {
	return withString(name, func(c *C.redcore_config, s *C.char, e **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_config_set_client_name(c, s, e)
	})
}

// WithDB selects the database every connection uses.
func WithDB(db int) Option {
	return func(cfg *config) error {
		if err := inRange("WithDB", int64(db), 0, math.MaxUint32); err != nil {
			return err
		}
		var cerr *C.redcore_error
		return check(C.redcore_config_set_db(cfg.c, C.uint32_t(db), &cerr), cerr)
	}
}

// WithProtocol chooses RESP2 (2) or RESP3 (3, the default).
func WithProtocol(version int) Option {
	return func(cfg *config) error {
		if err := inRange("WithProtocol", int64(version), math.MinInt32, math.MaxInt32); err != nil {
			return err
		}
		var cerr *C.redcore_error
		return check(C.redcore_config_set_protocol(cfg.c, C.int(version), &cerr), cerr)
	}
}

// WithCommandTimeout sets how long a command may take before it fails with ErrTimeout
// (default 5 s; 0 waits without limit). A context's deadline can only shorten it.
func WithCommandTimeout(d time.Duration) Option {
	return func(cfg *config) error {
		if err := notNegative("WithCommandTimeout", int64(d)); err != nil {
			return err
		}
		var cerr *C.redcore_error
		return check(C.redcore_config_set_command_timeout_ms(cfg.c, millis(d), &cerr), cerr)
	}
}

// WithConnectTimeout sets how long a connection attempt may take (default 5 s).
func WithConnectTimeout(d time.Duration) Option {
	return func(cfg *config) error {
		if err := notNegative("WithConnectTimeout", int64(d)); err != nil {
			return err
		}
		var cerr *C.redcore_error
		return check(C.redcore_config_set_connect_timeout_ms(cfg.c, millis(d), &cerr), cerr)
	}
}

// WithConnectionsPerNode sets how many multiplexed connections each server gets (default
// 1: every concurrent caller's commands are pipelined on it).
func WithConnectionsPerNode(n int) Option {
	return func(cfg *config) error {
		if err := notNegative("WithConnectionsPerNode", int64(n)); err != nil {
			return err
		}
		var cerr *C.redcore_error
		return check(C.redcore_config_set_connections_per_node(cfg.c, C.size_t(n), &cerr), cerr)
	}
}

// WithMaxDedicatedConnections bounds the connections held for Watch and blocking commands
// (default 16).
func WithMaxDedicatedConnections(n int) Option {
	return func(cfg *config) error {
		if err := notNegative("WithMaxDedicatedConnections", int64(n)); err != nil {
			return err
		}
		var cerr *C.redcore_error
		return check(C.redcore_config_set_max_dedicated_connections(cfg.c, C.size_t(n), &cerr), cerr)
	}
}

// WithReactorThreads sets the number of the library's event-loop threads (default 1).
func WithReactorThreads(n int) Option {
	return func(cfg *config) error {
		if err := notNegative("WithReactorThreads", int64(n)); err != nil {
			return err
		}
		var cerr *C.redcore_error
		return check(C.redcore_config_set_reactor_threads(cfg.c, C.size_t(n), &cerr), cerr)
	}
}

// WithLazyConnect makes Open return without waiting for the first connection; commands
// wait for it instead.
func WithLazyConnect() Option {
	return func(cfg *config) error {
		var cerr *C.redcore_error
		return check(C.redcore_config_set_lazy_connect(cfg.c, true, &cerr), cerr)
	}
}

// WithHealthCheck pings idle connections every interval, to find dead ones early.
func WithHealthCheck(interval time.Duration) Option {
	return func(cfg *config) error {
		if err := notNegative("WithHealthCheck", int64(interval)); err != nil {
			return err
		}
		var cerr *C.redcore_error
		return check(C.redcore_config_set_health_check_interval_ms(cfg.c, millis(interval), &cerr), cerr)
	}
}

// WithTLS turns TLS on (as rediss:// does). Certificates are verified against the CA given
// with WithTLSCAFile, or the system's trust store.
func WithTLS() Option {
	return func(cfg *config) error {
		var cerr *C.redcore_error
		return check(C.redcore_config_set_tls(cfg.c, true, &cerr), cerr)
	}
}

// WithTLSCAFile trusts the CA certificates of a PEM file.
func WithTLSCAFile(path string) Option {
	return withString(path, func(c *C.redcore_config, s *C.char, e **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_config_set_tls_ca_file(c, s, e)
	})
}

// WithTLSServerName sets the name the server's certificate must carry (and SNI), when it
// is not the host connected to.
func WithTLSServerName(name string) Option {
	return withString(name, func(c *C.redcore_config, s *C.char, e **C.redcore_error) C.enum_redcore_error_code {
		return C.redcore_config_set_tls_server_name(c, s, e)
	})
}

// WithTLSClientCert presents a client certificate (PEM files) for mutual TLS.
func WithTLSClientCert(certFile, keyFile string) Option {
	return func(cfg *config) error {
		cert, key := C.CString(certFile), C.CString(keyFile)
		defer C.free(unsafe.Pointer(cert))
		defer C.free(unsafe.Pointer(key))
		var cerr *C.redcore_error
		return check(C.redcore_config_set_tls_client_cert(cfg.c, cert, key, &cerr), cerr)
	}
}
