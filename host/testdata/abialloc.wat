;; abialloc: a fusionize_alloc at the edges of the ABI. Size 0 returns 0
;; (fine: the host writes nothing); up to 100 bytes it returns 0 (out of
;; memory); above, a pointer outside memory. The handler outputs "ok".
(module
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "ok")
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32)
    (if (i32.le_u (local.get $size) (i32.const 100)) (then (return (i32.const 0))))
    (i32.const -256))
  (func (export "fusionize_handle") (param i32 i32) (result i32)
    (drop (call $output (i32.const 16) (i32.const 2)))
    (i32.const 0)))
