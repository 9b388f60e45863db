;; badimport: imports a function from a module the host does not provide.
(module
  (import "env" "now" (func $now (result i64)))
  (memory (export "memory") 1)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "fusionize_handle") (param i32 i32) (result i32) (i32.const 0)))
