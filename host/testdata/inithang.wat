;; inithang: a reactor whose _initialize never returns. Loading it must fail
;; at the instantiation deadline, naming the task.
(module
  (memory (export "memory") 1)
  (func (export "_initialize") (loop $forever (br $forever)))
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "fusionize_handle") (param i32 i32) (result i32) (i32.const 0)))
