package redcore_test

import (
	"testing"

	"redcore"
)

// BenchmarkCrossing measures one Go -> C call, and one C -> Go call from a thread C
// started (what a callback per command from the library's event loop would cost).
func BenchmarkCrossing(b *testing.B) {
	b.Run("go-to-c", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if !redcore.CrossToC() {
				b.Fatal("unexpected answer")
			}
		}
	})
	b.Run("c-thread-to-go", func(b *testing.B) {
		if got := redcore.CrossFromCThread(b.N); got != uint64(b.N) {
			b.Fatalf("%d of %d calls arrived", got, b.N)
		}
	})
}
