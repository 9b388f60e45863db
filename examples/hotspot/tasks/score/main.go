// Task score of the hotspot app, the heavy one: it ranks products against a
// 128 MiB table it builds on its first invocation and keeps in memory (a
// stand-in for a recommendation model), with 900 SHA-256 rounds
// of CPU work per product. The table makes any group that holds score need
// far more memory than the light tasks do.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/fusionize/fusionize/guest-sdk/go/task"
)

// tableBytes is the table's size: 128 MiB.
const tableBytes = 128 << 20

// seedBytes is the part of the table drawn from xorshift64; the rest
// repeats it.
const seedBytes = 1 << 20

// rounds is the CPU work per product.
const rounds = 900

var table []byte

// fill builds the table, the same on every start: a 1 MiB seed drawn from
// xorshift64, then copied over the rest so that every page is touched (and
// counts toward the environment's memory) at little CPU cost.
func fill() {
	table = make([]byte, tableBytes)
	x := uint64(0x9e3779b97f4a7c15)
	for i := 0; i < seedBytes; i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(table[i:], x)
	}
	for n := seedBytes; n < len(table); n *= 2 {
		copy(table[n:], table[:n])
	}
}

type request struct {
	Products []struct {
		Name string `json:"name"`
		SKU  string `json:"sku"`
	} `json:"products"`
}

type ranked struct {
	Name  string `json:"name"`
	SKU   string `json:"sku"`
	Score uint32 `json:"score"`
}

func init() {
	task.HandleJSON(func(r request) (map[string][]ranked, error) {
		if len(r.Products) == 0 {
			return nil, fmt.Errorf("score: the request has no products")
		}
		if table == nil {
			fill()
		}
		out := make([]ranked, len(r.Products))
		for i, p := range r.Products {
			s := spin([]byte(p.SKU), rounds)
			var score uint32
			// Eight probes into the table, each chosen by the digest.
			for k := range 8 {
				off := binary.BigEndian.Uint32(s[4*k:]) % (tableBytes - 8)
				score ^= binary.LittleEndian.Uint32(table[off:]) ^ binary.LittleEndian.Uint32(table[off+4:])
			}
			out[i] = ranked{Name: p.Name, SKU: p.SKU, Score: score % 1000}
		}
		sort.SliceStable(out, func(a, b int) bool { return out[a].Score > out[b].Score })
		return map[string][]ranked{"ranked": out}, nil
	})
}

// spin is the task's CPU work: a chain of SHA-256 rounds over data.
func spin(data []byte, rounds int) [32]byte {
	s := sha256.Sum256(data)
	for range rounds - 1 {
		s = sha256.Sum256(s[:])
	}
	return s
}

func main() {}
