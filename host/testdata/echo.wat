;; echo: outputs its input. A minimal task: one static heap at 64 KiB that
;; fusionize_alloc grows to fit.
(module
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32)
    (local $need i32)
    ;; pages needed beyond the current size for [65536, 65536+size)
    (local.set $need
      (i32.sub
        (i32.shr_u (i32.add (local.get $size) (i32.const 131071)) (i32.const 16))
        (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then
        (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 65536))
  (func (export "fusionize_handle") (param $p i32) (param $n i32) (result i32)
    (drop (call $output (local.get $p) (local.get $n)))
    (i32.const 0)))
