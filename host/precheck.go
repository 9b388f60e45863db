package host

import (
	"errors"
	"fmt"
)

// maxLocals bounds the locals one function may declare (wasmtime's and V8's
// limit).
const maxLocals = 50_000

// precheck rejects binaries whose vector counts could not possibly fit in
// their sections, and functions with more than maxLocals locals, before
// wazero decodes them. wazero v1.12.0 allocates a section's vector by its
// declared count before reading any element (and reads the count even past
// the section's end), so a 14-byte module can make it allocate gigabytes and
// kill the process. Every element takes at least one byte, so a count larger
// than the rest of its section means the module is malformed. The full
// validation is wazero's; this only keeps hostile sizes away from it.
func precheck(wasm []byte) error {
	const header = 8 // magic and version
	if len(wasm) < header {
		return errors.New("too short to be a WebAssembly module")
	}
	if string(wasm[:4]) != "\x00asm" {
		return fmt.Errorf("not a WebAssembly module: it starts with %q, not the magic number \"\\x00asm\"", wasm[:4])
	}
	p := wasm[header:]
	for len(p) > 0 {
		id := p[0]
		size, n, ok := uleb32(p[1:])
		if !ok {
			return fmt.Errorf("section %d: malformed size", id)
		}
		p = p[1+n:]
		if uint64(size) > uint64(len(p)) {
			return fmt.Errorf("section %d: declares %d bytes, %d remain", id, size, len(p))
		}
		body := p[:size]
		p = p[size:]
		switch id {
		case 0, 8, 12: // custom, start, data count: no vector
			continue
		}
		count, n, ok := uleb32(body)
		if !ok {
			return fmt.Errorf("section %d: malformed element count", id)
		}
		if uint64(count) > uint64(len(body)-n) {
			return fmt.Errorf("section %d: declares %d elements in %d bytes", id, count, len(body)-n)
		}
		if id == 10 {
			if err := checkLocals(body[n:], count); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkLocals walks the function bodies of a code section and bounds their
// declared locals.
func checkLocals(code []byte, bodies uint32) error {
	for i := range bodies {
		size, n, ok := uleb32(code)
		if !ok || uint64(size) > uint64(len(code)-n) {
			return fmt.Errorf("code section: function body %d: malformed size", i)
		}
		body := code[n : n+int(size)]
		code = code[n+int(size):]
		groups, n, ok := uleb32(body)
		if !ok || uint64(groups) > uint64(len(body)-n) {
			return fmt.Errorf("code section: function body %d: malformed locals", i)
		}
		body = body[n:]
		var total uint64
		for range groups {
			num, n, ok := uleb32(body)
			if !ok || n >= len(body) {
				return fmt.Errorf("code section: function body %d: malformed locals", i)
			}
			total += uint64(num)
			if total > maxLocals {
				return fmt.Errorf("code section: function body %d declares more than %d locals", i, maxLocals)
			}
			body = body[n:]
			t := body[0]
			body = body[1:]
			if t == 0x63 || t == 0x64 { // (ref null? ht): skip the heap type
				_, n, ok := uleb32(body)
				if !ok {
					return fmt.Errorf("code section: function body %d: malformed local type", i)
				}
				body = body[n:]
			}
		}
	}
	return nil
}

// uleb32 decodes an unsigned LEB128 number of at most 5 bytes and returns
// it with the bytes it took.
func uleb32(b []byte) (v uint32, n int, ok bool) {
	var x uint64
	for i := 0; i < 5 && i < len(b); i++ {
		x |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return uint32(x), i + 1, x <= 0xffffffff
		}
	}
	return 0, 0, false
}
