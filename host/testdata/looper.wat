;; looper: input is a little-endian u32 count followed by a payload; calls
;; task "echo" with the payload count times, each result into the same
;; preallocated buffer, and outputs the last result. Benchmarks divide by the
;; count to get the cost of one fused call A→host→B.
(module
  (import "fusionize" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "echo")
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32) (i32.const 65536))
  (func (export "fusionize_handle") (param $p i32) (param $n i32) (result i32)
    (local $count i32) (local $r i32)
    (local.set $count (i32.load (local.get $p)))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $count)))
        (local.set $r (call $call (i32.const 0) (i32.const 4)
          (i32.add (local.get $p) (i32.const 4)) (i32.sub (local.get $n) (i32.const 4))
          (i32.const 1024) (i32.const 63488)))
        (if (i32.lt_s (local.get $r) (i32.const 0)) (then (return (i32.const 1))))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $next)))
    (drop (call $output (i32.const 1024) (local.get $r)))
    (i32.const 0)))
