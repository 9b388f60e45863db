// Package store is the control plane's durable state: everything the fuser
// must still know after a restart, kept under one data directory.
//
//	dir/fusionize.db          bbolt database: setups, module index, spans, iterations
//	dir/kv.db                 bbolt database: the tasks' key-value store
//	dir/modules/sha256/<hex>  Wasm modules, content-addressed, written atomically
//	dir/token                 the control-plane bearer token, mode 0600
//
// Usage:
//
//	st, err := store.Open("/var/lib/fusionize")
//	if err != nil { ... }
//	defer st.Close()
//	info, err := st.PutModule(ctx, "A", body, "sha256:…", 64<<20)
//	v, err := st.ApplySetup(setup.Separate(0, tasks, setup.Place{Provider: "local"}, 128))
//	err = st.AppendSpans(batch)
//	spans, err := st.Spans(v, 0)
//
// # Why bbolt and not a pure-Go SQLite?
//
// The control plane is the only writer: one process owns the data directory
// (the file lock makes sure of it), so SQLite's concurrency model buys
// nothing, and bbolt's single writer with any number of lock-free readers
// fits exactly. Nothing here needs SQL: every query is a key lookup or a
// range scan over a key we design (spans are keyed by setup version, start
// time and a sequence, so "the spans of version v" is one cursor walk).
// bbolt is one small pure-Go package (no cgo, no transpiled C of several
// hundred thousand lines as in modernc.org/sqlite), a copy-on-write B+tree
// whose commits are atomic and crash-safe with no recovery step and no WAL to
// checkpoint. Its weak spot, an fsync per write transaction, is met by
// batching: hosts already send spans in batches, and AppendSpans writes one
// batch in one transaction.
//
// # Layout of the database
//
// Buckets: "setups" (big-endian version → setup JSON), "modules" (digest →
// api.ModuleInfo JSON), "tasks" (task → api.ModuleInfo JSON of its latest module),
// "spans" (24-byte key → compact binary span, see span.go), "iterations"
// (big-endian sequence → api.Iteration JSON) and "meta" (the span count).
// The tasks' key-value store is a database of its own, kv.db, bucket "kv"
// (one nested bucket per application, key → value; a PutValue answers once
// its transaction is on disk, and the puts that arrive while one commits
// share the next transaction: group commit, kv.go). Apart, a task's
// write waits for the other writes of tasks only, as it would on a managed
// database, and not for the span batches every invocation's host reports:
// in one file bbolt's single writer queues each put behind the span commit
// in progress (BenchmarkPutValueBesideSpans, BENCHMARKS.store.md).
//
// The hosts registry is kept in memory only: hosts re-register on their
// heartbeat, so after a restart it refills within one heartbeat period.
package store
