//go:build !redcore_pkgconfig

package redcore

// Links the static library that `make` builds in this checkout (target/release). Build with
// `-tags redcore_pkgconfig` to link an installed redcore found by pkg-config instead.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../target/release -l:libredcore.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
import "C"
