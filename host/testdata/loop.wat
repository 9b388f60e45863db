;; loop: never returns.
(module
  (memory (export "memory") 1)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32) (i32.const 1024))
  (func (export "fusionize_handle") (param i32 i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
