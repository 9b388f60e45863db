// Package fn holds the functions the emulator's tests deploy, registered with
// functions-framework-go as a Cloud Functions Go source does.
package fn

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
)

func init() {
	functions.HTTP("Echo", echo)
	functions.HTTP("Work", work)
}

// echo answers the request body, the path and the platform variables.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	data, _ := os.ReadFile("data/greeting.txt")
	fmt.Fprintf(w, "%s %s %s rev=%s svc=%s target=%s data=%s env=%s",
		r.Method, r.URL.Path, body, os.Getenv("K_REVISION"), os.Getenv("K_SERVICE"),
		os.Getenv("FUNCTION_TARGET"), strings.TrimSpace(string(data)), os.Getenv("GREETING"))
}

var (
	held    [][]byte
	mu      sync.Mutex
	answers = map[string]int{}
)

// work does what its query asks: burn=N hashes of 1 KiB (fixed CPU work),
// sleep=MS, alloc=MB (touched and held), exit=1 (the process ends mid-request),
// big=MB of response, panic=1, flaky=KEY&fails=N (500 for the first N
// calls with KEY on this instance).
func work(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if key := q.Get("flaky"); key != "" {
		fails, _ := strconv.Atoi(q.Get("fails"))
		mu.Lock()
		answers[key]++
		n := answers[key]
		mu.Unlock()
		if n <= fails {
			http.Error(w, fmt.Sprintf("flaky %s: call %d of %d failing", key, n, fails), http.StatusInternalServerError)
			return
		}
	}
	if n, _ := strconv.Atoi(q.Get("burn")); n > 0 {
		buf := make([]byte, 1024)
		for i := 0; i < n; i++ {
			s := sha256.Sum256(buf)
			buf[0] = s[0]
		}
	}
	if ms, _ := strconv.Atoi(q.Get("sleep")); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	if mb, _ := strconv.Atoi(q.Get("alloc")); mb > 0 {
		for i := 0; i < mb; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = byte(j)
			}
			held = append(held, b)
		}
	}
	if q.Get("exit") == "1" {
		os.Exit(3)
	}
	if q.Get("panic") == "1" {
		panic("asked to panic")
	}
	if mb, _ := strconv.Atoi(q.Get("big")); mb > 0 {
		chunk := make([]byte, 1<<20)
		for i := 0; i < mb; i++ {
			w.Write(chunk)
		}
		return
	}
	fmt.Fprintf(w, "done pid=%d", os.Getpid())
}
