;; relay: input is two one-letter task names "xy"; calls task y with input
;; "yx" and outputs the result. Loaded as tasks "a" and "b" and invoked as
;; a("ab") it makes the cycle a→b→a→… that the depth limit must end.
(module
  (import "fusionize" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fusionize" "take" (func $take (param i32 i32) (result i32)))
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32) (i32.const 65536))
  (func (export "fusionize_handle") (param $p i32) (param $n i32) (result i32)
    (local $r i32)
    (if (i32.ne (local.get $n) (i32.const 2)) (then (return (i32.const 1))))
    (i32.store8 (i32.const 16) (i32.load8_u offset=1 (local.get $p)))
    (i32.store8 (i32.const 17) (i32.load8_u (local.get $p)))
    (local.set $r (call $call (i32.const 16) (i32.const 1) (i32.const 16) (i32.const 2) (i32.const 1024) (i32.const 63488)))
    (if (i32.lt_s (local.get $r) (i32.const 0))
      (then
        (drop (call $output (i32.const 1024) (call $take (i32.const 1024) (i32.const 63488))))
        (return (i32.const 1))))
    (drop (call $output (i32.const 1024) (local.get $r)))
    (i32.const 0)))
