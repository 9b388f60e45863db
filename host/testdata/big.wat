;; big: outputs 2 MiB whatever its input.
(module
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 33)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32) (i32.const 0))
  (func (export "fusionize_handle") (param i32 i32) (result i32)
    (drop (call $output (i32.const 0) (i32.const 2097152)))
    (i32.const 0)))
