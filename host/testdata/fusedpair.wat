;; fusedpair: a fused module (ABI version 2) that holds tasks "fa" and "fb";
;; each echoes its input. The smallest fused module a check accepts.
(module
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "fa\nfb\n")
  (func (export "fusionize_abi_version") (result i32) (i32.const 2))
  (func (export "fusionize_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "fusionize_handle") (param i32 i32) (result i32) (i32.const 1))
  (func (export "fusionize_tasks") (drop (call $output (i32.const 16) (i32.const 6))))
  (func (export "fusionize_handle_task") (param i32 i32 i32) (result i32)
    (drop (call $output (local.get 1) (local.get 2)))
    (i32.const 0)))
