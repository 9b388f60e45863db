;; grow: grows its memory 16 pages at a time until the host refuses, then
;; traps.
(module
  (memory (export "memory") 1)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32) (i32.const 1024))
  (func (export "fusionize_handle") (param i32 i32) (result i32)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (unreachable)))
