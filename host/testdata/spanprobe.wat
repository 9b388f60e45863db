;; spanprobe: a module of one task (ABI version 1) that calls span_begin and
;; span_end, which only a fused module may use, and outputs their two
;; results as little-endian i32s.
(module
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (import "fusionize" "span_begin" (func $begin (param i32 i32) (result i32)))
  (import "fusionize" "span_end" (func $end (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "fusionize_handle") (param i32 i32) (result i32)
    (i32.store (i32.const 0) (call $begin (i32.const 0) (i32.const 0)))
    (i32.store (i32.const 4) (call $end (i32.const 0) (i32.const 0) (i32.const 0)))
    (drop (call $output (i32.const 0) (i32.const 8)))
    (i32.const 0)))
