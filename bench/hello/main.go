// Command hello is the baseline of `spec-kitty version` (SPEC §14): a
// static Go program that links net/http, as every real Go CLI that talks
// HTTP does, and prints one line. The distance between the two is what
// spec-kitty's own start-up costs: its package initialisers, its larger
// binary, its command tree.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) > 1 {
		// Never taken by the benchmark; it keeps net/http linked and live.
		if _, err := http.Get(os.Args[1]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Println("hello")
}
