;; fanout: calls the task named by its input asynchronously, with its input,
;; and outputs "accepted".
(module
  (import "fusionize" "call_async" (func $async (param i32 i32 i32 i32) (result i32)))
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "accepted")
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32) (i32.const 65536))
  (func (export "fusionize_handle") (param $p i32) (param $n i32) (result i32)
    (if (i32.lt_s (call $async (local.get $p) (local.get $n) (local.get $p) (local.get $n)) (i32.const 0))
      (then (return (i32.const 1))))
    (drop (call $output (i32.const 0) (i32.const 8)))
    (i32.const 0)))
