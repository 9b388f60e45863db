;; hog: grows its memory 16 pages (1 MiB) at a time and writes to every
;; 4 KiB of each new region, so that the memory is really used, until the
;; host refuses; then traps. The host caps an instance at its function's
;; memory size and grows it in place, but the process holds the host's own
;; memory too (more than the 1 MiB step), so the platform's memory limit
;; ends it before the cap is reached.
(module
  (memory (export "memory") 1)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param $size i32) (result i32) (i32.const 1024))
  (func (export "fusionize_handle") (param i32 i32) (result i32)
    (local $at i32)
    (local $end i32)
    (loop $more
      (local.set $at (memory.grow (i32.const 16)))
      (if (i32.ne (local.get $at) (i32.const -1))
        (then
          (local.set $at (i32.mul (local.get $at) (i32.const 65536)))
          (local.set $end (i32.add (local.get $at) (i32.const 1048576)))
          (loop $touch
            (i32.store (local.get $at) (i32.const 1))
            (local.set $at (i32.add (local.get $at) (i32.const 4096)))
            (br_if $touch (i32.lt_u (local.get $at) (local.get $end))))
          (br $more))))
    (unreachable)))
