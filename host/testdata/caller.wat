;; caller: calls task "echo" with its input into a preallocated 62 KiB
;; buffer and outputs the result. The fused-call floor: no allocation on
;; either side of the boundary.
(module
  (import "fusionize" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fusionize" "take" (func $take (param i32 i32) (result i32)))
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "echo")
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.sub
        (i32.shr_u (i32.add (local.get $size) (i32.const 131071)) (i32.const 16))
        (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then
        (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 65536))
  (func (export "fusionize_handle") (param $p i32) (param $n i32) (result i32)
    (local $r i32)
    (local.set $r (call $call (i32.const 0) (i32.const 4) (local.get $p) (local.get $n) (i32.const 1024) (i32.const 63488)))
    (if (i32.lt_s (local.get $r) (i32.const 0))
      (then
        ;; forward the error message
        (drop (call $output (i32.const 1024) (call $take (i32.const 1024) (i32.const 63488))))
        (return (i32.const 1))))
    (if (i32.gt_u (local.get $r) (i32.const 63488))
      (then
        (drop (call $output (i32.const 0) (i32.const 0)))
        (return (i32.const 1))))
    (drop (call $output (i32.const 1024) (local.get $r)))
    (i32.const 0)))
