;; wecho is a test task in WebAssembly text: it returns its input.
(module
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  ;; One static input buffer at 1024, grown to fit.
  (func (export "fusionize_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.sub
        (i32.shr_u (i32.add (i32.add (i32.const 1024) (local.get $size)) (i32.const 65535)) (i32.const 16))
        (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.lt_s (memory.grow (local.get $need)) (i32.const 0))
        (then (return (i32.const 0))))))
    (i32.const 1024))
  (func (export "fusionize_handle") (param $ptr i32) (param $len i32) (result i32)
    (drop (call $output (local.get $ptr) (local.get $len)))
    (i32.const 0)))
