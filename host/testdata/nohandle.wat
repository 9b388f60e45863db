;; nohandle: lacks fusionize_handle.
(module
  (memory (export "memory") 1)
  (func (export "fusionize_abi_version") (result i32) (i32.const 1))
  (func (export "fusionize_alloc") (param i32) (result i32) (i32.const 1024)))
