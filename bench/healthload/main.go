// Command healthload sends GET /api/health to one loopback port N times,
// each over a fresh connection as a scan or a CLI does, a few at a time. It
// is the load of the benchmarks' "after 1,000 health requests" memory
// figure (scripts/bench.sh); it reads every answer to its end.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

func main() {
	port := flag.Int("port", 0, "loopback port to ask")
	n := flag.Int("n", 1000, "requests")
	conc := flag.Int("c", 4, "requests in flight at once")
	flag.Parse()
	if *port <= 0 {
		fmt.Fprintln(os.Stderr, "healthload: -port is required")
		os.Exit(2)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(*port) + "/api/health"
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for next.Add(1) <= int64(*n) {
				resp, err := client.Get(url)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "healthload: %d of %d requests failed\n", f, *n)
		os.Exit(1)
	}
}
