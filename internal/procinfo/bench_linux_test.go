package procinfo

import (
	"os"
	"testing"
)

func BenchmarkRead(b *testing.B) {
	pid := os.Getpid()
	for b.Loop() {
		if _, err := Read(pid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSameProcess(b *testing.B) {
	info, err := Read(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if same, err := SameProcess(info.Identity()); !same || err != nil {
			b.Fatal(same, err)
		}
	}
}
