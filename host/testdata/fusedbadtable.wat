;; fusedbadtable: a fused module (ABI version 2) of tasks "a" and "b" whose
;; span table is of a layout the host does not read (7). The host must
;; refuse it, naming the module's tasks and the layout.
(module
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "a\nb\n")
  (data (i32.const 64) "\07\00\00\00\04\00\00\00")
  (func (export "fusionize_abi_version") (result i32) (i32.const 2))
  (func (export "fusionize_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "fusionize_handle") (param i32 i32) (result i32) (i32.const 1))
  (func (export "fusionize_tasks") (drop (call $output (i32.const 16) (i32.const 4))))
  (func (export "fusionize_span_table") (result i32) (i32.const 64))
  (func (export "fusionize_handle_task") (param i32 i32 i32) (result i32)
    (drop (call $output (local.get 1) (local.get 2)))
    (i32.const 0)))
