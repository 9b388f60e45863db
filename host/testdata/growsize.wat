;; growsize: grows its memory as far as the host lets it, in steps of 1024
;; pages, then 256, 64, 16, 4 and 1, and outputs the number of pages it
;; reached (4 bytes, little-endian).
(module
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32) (i32.const 1024))
  (func (export "fusionize_handle") (param i32 i32) (result i32)
    (local $step i32)
    (local.set $step (i32.const 1024))
    (loop $steps
      (loop $more
        (br_if $more (i32.ne (memory.grow (local.get $step)) (i32.const -1))))
      (local.set $step (i32.shr_u (local.get $step) (i32.const 2)))
      (br_if $steps (local.get $step)))
    (i32.store (i32.const 0) (memory.size))
    (drop (call $output (i32.const 0) (i32.const 4)))
    (i32.const 0)))
