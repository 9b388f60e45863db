;; hop: input is a string of one-letter task names "bcd"; calls task b with
;; input "cd" (which calls c with "d", …) and outputs what it answers; an
;; empty input outputs "." (the end of the chain). Loaded as tasks "a", "b",
;; "c", "d" split over groups, one request crosses hosts.
(module
  (import "fusionize" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fusionize" "take" (func $take (param i32 i32) (result i32)))
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) ".")
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32) (i32.const 65536))
  (func (export "fusionize_handle") (param $p i32) (param $n i32) (result i32)
    (local $r i32)
    (if (i32.eqz (local.get $n))
      (then
        (drop (call $output (i32.const 0) (i32.const 1)))
        (return (i32.const 0))))
    ;; call task input[0] with input[1:], result at 1024
    (local.set $r (call $call (local.get $p) (i32.const 1)
      (i32.add (local.get $p) (i32.const 1)) (i32.sub (local.get $n) (i32.const 1))
      (i32.const 1024) (i32.const 32768)))
    (if (i32.lt_s (local.get $r) (i32.const 0))
      (then
        (drop (call $output (i32.const 1024) (call $take (i32.const 1024) (i32.const 32768))))
        (return (i32.const 1))))
    (drop (call $output (i32.const 1024) (local.get $r)))
    (i32.const 0)))
