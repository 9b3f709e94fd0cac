package uploader

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 1 * time.Second
	cases := []struct {
		name     string
		failures int
		wantMax  time.Duration
	}{
		{"first failure", 1, lo},
		{"second doubles", 2, 2 * lo},
		{"third doubles again", 3, 4 * lo},
		{"capped", 10, hi},
		{"huge count stays capped", 1 << 30, hi},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 50 {
				got := Backoff(lo, hi, tc.failures)
				if got < tc.wantMax/2 || got > tc.wantMax {
					t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", tc.failures, got, tc.wantMax/2, tc.wantMax)
				}
			}
		})
	}
}
