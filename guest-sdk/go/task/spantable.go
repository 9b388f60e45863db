//go:build wasip1

package task

// The span table of a fused module (guest-sdk/ABI.md, "Sampling calls
// inside the module"): a block of little-endian uint32 words in the
// module's memory that the host and the guest share. The host writes the
// sampling rate and the limits before each invocation and reads the
// per-edge counts after it; the guest counts every call inside the module
// there and times only a sample through span_begin and span_end.
const (
	spanTableLayout = 1
	maxEdges        = 64

	hdrLayout     = 0 // guest: spanTableLayout
	hdrCapacity   = 1 // guest: maxEdges
	hdrEvery      = 2 // host: sample 1 call in every N of an edge; 0 = every call through the host
	hdrMaxDepth   = 3 // host: the maximum call depth
	hdrDepth      = 4 // host: the invocation's depth
	hdrMaxPayload = 5 // host: the payload limit, in bytes
	hdrUsed       = 6 // guest: edges in use (the host sets 0 before each invocation)
	hdrRunning    = 7 // guest: the index of the task running now
	hdrGuestDepth = 8 // guest: calls inside the module open now, sampled or not
	hdrWords      = 12

	entCaller  = 0 // the caller's task index, | edgeFromTop for the invocation's own task
	entCallee  = 1
	entCalls   = 2 // every call of the edge started, sampled or counted
	entCounted = 3 // the calls counted only (no span of their own)
	entInLo    = 4 // their input bytes, a uint64 in two words
	entOutLo   = 6 // their output bytes
	entWords   = 8

	// edgeFromTop marks an edge whose caller is the invocation's own task
	// (not a call nested inside the module).
	edgeFromTop = 1 << 31
)

var spanTable struct {
	hdr [hdrWords]uint32
	ent [maxEdges][entWords]uint32
}

// lastEdge caches the edge edgeOf found last: a task calls the same
// callee over and over.
var lastEdge int = -1

// edgeOf returns the table entry of the edge caller→callee, adding it;
// nil when the table is full.
func edgeOf(caller, callee uint32) *[entWords]uint32 {
	t := &spanTable
	if i := lastEdge; i >= 0 && t.ent[i][entCaller] == caller && t.ent[i][entCallee] == callee {
		return &t.ent[i]
	}
	used := int(t.hdr[hdrUsed])
	for i := range used {
		if e := &t.ent[i]; e[entCaller] == caller && e[entCallee] == callee {
			lastEdge = i
			return e
		}
	}
	if used >= maxEdges {
		return nil
	}
	e := &t.ent[used]
	*e = [entWords]uint32{entCaller: caller, entCallee: callee}
	t.hdr[hdrUsed] = uint32(used + 1)
	lastEdge = used
	return e
}

// clearEdges forgets the edges of the last invocation (the host also
// clears the count of edges in use before each invocation).
func clearEdges() {
	spanTable.hdr[hdrUsed] = 0
	lastEdge = -1
}

// addU64 adds d to the uint64 held in w[0] (low word) and w[1].
func addU64(w []uint32, d uint64) {
	v := (uint64(w[0]) | uint64(w[1])<<32) + d
	w[0], w[1] = uint32(v), uint32(v>>32)
}
