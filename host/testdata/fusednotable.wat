;; fusednotable: a fused module (ABI version 2) of tasks "a" and "b" without
;; a span table (no fusionize_span_table export), as fused modules were
;; before the table: every call inside it goes through span_begin and
;; span_end. Task a calls b inside the module and outputs b's output, its
;; own input; b outputs its input.
(module
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (import "fusionize" "span_begin" (func $span_begin (param i32 i32) (result i32)))
  (import "fusionize" "span_end" (func $span_end (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "a\nb\n")
  (func (export "fusionize_abi_version") (result i32) (i32.const 2))
  (func (export "fusionize_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "fusionize_handle") (param i32 i32) (result i32) (i32.const 1))
  (func (export "fusionize_tasks") (drop (call $output (i32.const 16) (i32.const 4))))
  (func (export "fusionize_handle_task") (param $task i32) (param $ptr i32) (param $len i32) (result i32)
    (local $n i32)
    (if (i32.eqz (local.get $task))
      (then
        (local.set $n (call $span_begin (i32.const 1) (local.get $len)))
        (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (i32.const 1))))
        ;; b's work: its output is its input
        (drop (call $span_end (i32.const 0) (i32.const 0) (local.get $len)))))
    (drop (call $output (local.get $ptr) (local.get $len)))
    (i32.const 0)))
