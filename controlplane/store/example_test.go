package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/fusionize/fusionize/api/setup"
	"github.com/fusionize/fusionize/api/span"
	"github.com/fusionize/fusionize/controlplane/store"
)

func Example() {
	dir, _ := os.MkdirTemp("", "fusionize-store")
	defer os.RemoveAll(dir)
	st, err := store.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	wasm := []byte("\x00asm\x01\x00\x00\x00")
	sum := sha256.Sum256(wasm)
	info, err := st.PutModule(context.Background(), "A", bytes.NewReader(wasm), "sha256:"+hex.EncodeToString(sum[:]), 64<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.Task, info.Size)

	v, _ := st.ApplySetup(setup.Separate(0, []string{"A", "B"}, setup.Place{Provider: "local"}, 128))
	st.AppendSpans([]span.Span{
		{TraceID: "t1", ID: 1, Task: "A", SetupVersion: v, Start: time.Now(), Duration: time.Millisecond},
		{TraceID: "t1", ID: 2, ParentID: 1, Caller: "A", Task: "B", Remote: true, SetupVersion: v, Start: time.Now()},
	})
	spans, _ := st.Spans(v, 0)
	fmt.Println(v, len(spans), spans[1].Caller+"→"+spans[1].Task)
	// Output:
	// A 8
	// 1 2 A→B
}
