//go:build redcore_pkgconfig

package redcore

// Links the redcore installed on the system (`make install`), found by pkg-config.

// #cgo pkg-config: redcore
import "C"
