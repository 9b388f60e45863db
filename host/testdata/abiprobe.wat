;; abiprobe: the guest of the ABI conformance test (host/abi_conformance_test.go).
;; The first input byte picks a scenario from guest-sdk/ABI.md; the scenario
;; calls imports and records what they return. The output is
;;   [count i32] [count results, i32 little-endian] [bytes fetched with take]
;; Scenarios F, R, T, X, B and n fail their invocation on purpose.
;;
;; Memory: strings below 1024, call results at 4096, counters and results
;; at 16380, take's buffer at 24576, the input region from 65536.
(module
  (import "fusionize" "output" (func $output (param i32 i32) (result i32)))
  (import "fusionize" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fusionize" "call_async" (func $call_async (param i32 i32 i32 i32) (result i32)))
  (import "fusionize" "call_start" (func $call_start (param i32 i32 i32 i32) (result i32)))
  (import "fusionize" "call_wait" (func $call_wait (param i32 i32 i32) (result i32)))
  (import "fusionize" "take" (func $take (param i32 i32) (result i32)))
  (import "fusionize" "log" (func $log (param i32 i32 i32)))
  (import "fusionize" "kv_put" (func $kv_put (param i32 i32 i32 i32) (result i32)))
  (import "fusionize" "kv_get" (func $kv_get (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_raise" (func $proc_raise (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "echo")
  (data (i32.const 32) "nosuch")
  (data (i32.const 48) "probe")
  (data (i32.const 64) "FRTd")
  (data (i32.const 80) "0123456789")
  (data (i32.const 96) "ab")
  (data (i32.const 112) "loop")
  (data (i32.const 128) "remote")
  (data (i32.const 144) "key")
  (data (i32.const 160) "boom")
  (data (i32.const 176) "seven")

  (global $cnt (mut i32) (i32.const 0))
  (global $takeLen (mut i32) (i32.const 0))
  (global $initTake (mut i32) (i32.const 12345))

  ;; An import called from _initialize: the host answers INTERNAL (-8).
  (func (export "_initialize")
    (global.set $initTake (call $take (i32.const 0) (i32.const 0)))
    (call $log (i32.const 1) (i32.const 16) (i32.const 4)))

  (func (export "fusionize_abi_version") (result i32) (i32.const 1))

  (func (export "fusionize_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.sub
        (i32.shr_u (i32.add (local.get $size) (i32.const 131071)) (i32.const 16))
        (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then
        (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 65536))

  (func $rec (param $v i32)
    (i32.store (i32.add (i32.const 16384) (i32.shl (global.get $cnt) (i32.const 2))) (local.get $v))
    (global.set $cnt (i32.add (global.get $cnt) (i32.const 1))))

  ;; takeAll fetches whatever is held (up to 4 KiB) into take's buffer.
  (func $takeAll
    (local $n i32)
    (local.set $n (call $take (i32.const 0) (i32.const 0)))
    (if (i32.and (i32.gt_s (local.get $n) (i32.const 0)) (i32.le_s (local.get $n) (i32.const 4096)))
      (then
        (drop (call $take (i32.const 24576) (i32.const 4096)))
        (global.set $takeLen (local.get $n)))))

  (func $finish (result i32)
    (i32.store (i32.const 16380) (global.get $cnt))
    (memory.copy
      (i32.add (i32.const 16384) (i32.shl (global.get $cnt) (i32.const 2)))
      (i32.const 24576) (global.get $takeLen))
    (drop (call $output (i32.const 16380)
      (i32.add (i32.add (i32.const 4) (i32.shl (global.get $cnt) (i32.const 2))) (global.get $takeLen))))
    (i32.const 0))

  ;; callProbe calls this task itself with the one-byte scenario at $s.
  (func $callProbe (param $s i32) (result i32)
    (call $call (i32.const 48) (i32.const 5) (local.get $s) (i32.const 1) (i32.const 4096) (i32.const 1024)))

  (func (export "fusionize_handle") (param $p i32) (param $n i32) (result i32)
    (local $s i32) (local $r i32) (local $i i32) (local $ok i32) (local $last i32)
    (global.set $cnt (i32.const 0))
    (global.set $takeLen (i32.const 0))
    ;; No input: no output call, so the output is empty.
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
    (local.set $s (i32.load8_u (local.get $p)))

    ;; o: output from outside memory → BAD_ARGUMENT
    (if (i32.eq (local.get $s) (i32.const 111)) (then
      (call $rec (call $output (i32.const -256) (i32.const 200)))
      (return (call $finish))))
    ;; b: output over the payload limit → TOO_LARGE; a later output that fits replaces it
    (if (i32.eq (local.get $s) (i32.const 98)) (then
      (call $rec (call $output (i32.const 0) (i32.const 2000)))
      (return (call $finish))))
    ;; B: output over the limit, and nothing after it: the invocation fails
    (if (i32.eq (local.get $s) (i32.const 66)) (then
      (drop (call $output (i32.const 80) (i32.const 10)))
      (drop (call $output (i32.const 0) (i32.const 2000)))
      (return (i32.const 0))))
    ;; u: call an unknown task → UNKNOWN_TASK, message held
    (if (i32.eq (local.get $s) (i32.const 117)) (then
      (call $rec (call $call (i32.const 32) (i32.const 6) (i32.const 96) (i32.const 2) (i32.const 4096) (i32.const 16)))
      (call $rec (call $take (i32.const 0) (i32.const 0)))
      (call $takeAll)
      (return (call $finish))))
    ;; e: call with an empty task name → BAD_ARGUMENT
    (if (i32.eq (local.get $s) (i32.const 101)) (then
      (call $rec (call $call (i32.const 16) (i32.const 0) (i32.const 96) (i32.const 2) (i32.const 4096) (i32.const 16)))
      (return (call $finish))))
    ;; p: call with a task name outside memory → BAD_ARGUMENT
    (if (i32.eq (local.get $s) (i32.const 112)) (then
      (call $rec (call $call (i32.const -256) (i32.const 4) (i32.const 96) (i32.const 2) (i32.const 4096) (i32.const 16)))
      (return (call $finish))))
    ;; f, r, t: a callee that returns 1, returns 7, traps → FAILED with its message
    (if (i32.eq (local.get $s) (i32.const 102)) (then
      (call $rec (call $callProbe (i32.const 64)))
      (call $takeAll)
      (return (call $finish))))
    (if (i32.eq (local.get $s) (i32.const 114)) (then
      (call $rec (call $callProbe (i32.const 65)))
      (call $takeAll)
      (return (call $finish))))
    (if (i32.eq (local.get $s) (i32.const 116)) (then
      (call $rec (call $callProbe (i32.const 66)))
      (call $takeAll)
      (return (call $finish))))
    ;; l: call input over the payload limit → TOO_LARGE
    (if (i32.eq (local.get $s) (i32.const 108)) (then
      (call $rec (call $call (i32.const 16) (i32.const 4) (i32.const 0) (i32.const 2000) (i32.const 4096) (i32.const 16)))
      (call $takeAll)
      (return (call $finish))))
    ;; d: calls itself until the depth limit → DEPTH, passed back up
    (if (i32.eq (local.get $s) (i32.const 100)) (then
      (local.set $r (call $callProbe (i32.const 67)))
      (if (i32.lt_s (local.get $r) (i32.const 0)) (then
        (call $rec (local.get $r))
        (call $takeAll)
        (return (call $finish))))
      (drop (call $output (i32.const 4096) (local.get $r)))
      (return (i32.const 0))))
    ;; h: a result larger than the buffer is held; take asks, then fetches, then nothing
    (if (i32.eq (local.get $s) (i32.const 104)) (then
      (call $rec (call $call (i32.const 16) (i32.const 4) (i32.const 80) (i32.const 10) (i32.const 4096) (i32.const 4)))
      (call $rec (call $take (i32.const 0) (i32.const 0)))
      (call $rec (call $take (i32.const 24576) (i32.const 4)))
      (call $rec (call $take (i32.const 24576) (i32.const 16)))
      (global.set $takeLen (i32.const 10))
      (call $rec (call $take (i32.const 0) (i32.const 0)))
      (return (call $finish))))
    ;; k: a later call whose result fits does not replace the held value
    (if (i32.eq (local.get $s) (i32.const 107)) (then
      (call $rec (call $call (i32.const 16) (i32.const 4) (i32.const 80) (i32.const 10) (i32.const 4096) (i32.const 4)))
      (call $rec (call $call (i32.const 16) (i32.const 4) (i32.const 96) (i32.const 2) (i32.const 4096) (i32.const 4)))
      (call $rec (call $take (i32.const 0) (i32.const 0)))
      (call $takeAll)
      (return (call $finish))))
    ;; x: take into memory it cannot write → BAD_ARGUMENT
    (if (i32.eq (local.get $s) (i32.const 120)) (then
      (call $rec (call $call (i32.const 16) (i32.const 4) (i32.const 80) (i32.const 10) (i32.const 4096) (i32.const 4)))
      (call $rec (call $take (i32.const -256) (i32.const 100)))
      (return (call $finish))))
    ;; q: a result that fits but an out_ptr outside memory → BAD_ARGUMENT
    (if (i32.eq (local.get $s) (i32.const 113)) (then
      (call $rec (call $call (i32.const 16) (i32.const 4) (i32.const 96) (i32.const 2) (i32.const -256) (i32.const 16)))
      (return (call $finish))))
    ;; U: a task of another group with no way to reach it → UNAVAILABLE
    (if (i32.eq (local.get $s) (i32.const 85)) (then
      (call $rec (call $call (i32.const 128) (i32.const 6) (i32.const 96) (i32.const 2) (i32.const 4096) (i32.const 16)))
      (call $takeAll)
      (return (call $finish))))
    ;; w: call_wait on an unknown handle, then on one already waited → BAD_ARGUMENT
    (if (i32.eq (local.get $s) (i32.const 119)) (then
      (call $rec (call $call_wait (i32.const 5) (i32.const 4096) (i32.const 16)))
      (local.set $r (call $call_start (i32.const 16) (i32.const 4) (i32.const 96) (i32.const 2)))
      (call $rec (local.get $r))
      (call $rec (call $call_wait (local.get $r) (i32.const 4096) (i32.const 16)))
      (call $rec (call $call_wait (local.get $r) (i32.const 4096) (i32.const 16)))
      (call $takeAll)
      (return (call $finish))))
    ;; s: 65 call_start → 64 handles, then TOO_MANY; all 64 waited
    (if (i32.eq (local.get $s) (i32.const 115)) (then
      (local.set $i (i32.const 0))
      (loop $start
        (local.set $r (call $call_start (i32.const 16) (i32.const 4) (i32.const 96) (i32.const 2)))
        (if (i32.ge_s (local.get $r) (i32.const 0))
          (then (local.set $ok (i32.add (local.get $ok) (i32.const 1))))
          (else (local.set $last (local.get $r))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $start (i32.lt_s (local.get $i) (i32.const 65))))
      (call $rec (local.get $ok))
      (call $rec (local.get $last))
      (local.set $i (i32.const 0))
      (loop $wait
        (drop (call $call_wait (local.get $i) (i32.const 4096) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $wait (i32.lt_s (local.get $i) (local.get $ok))))
      (call $takeAll)
      (return (call $finish))))
    ;; n: return with a started call not waited for → the invocation fails
    (if (i32.eq (local.get $s) (i32.const 110)) (then
      (drop (call $call_start (i32.const 16) (i32.const 4) (i32.const 96) (i32.const 2)))
      (return (i32.const 0))))
    ;; A: call_async of an unknown task, then past the async limit → TOO_MANY
    (if (i32.eq (local.get $s) (i32.const 65)) (then
      (call $rec (call $call_async (i32.const 32) (i32.const 6) (i32.const 96) (i32.const 2)))
      (call $rec (call $call_async (i32.const 112) (i32.const 4) (i32.const 96) (i32.const 0)))
      (call $rec (call $call_async (i32.const 112) (i32.const 4) (i32.const 96) (i32.const 0)))
      (call $takeAll)
      (return (call $finish))))
    ;; v: kv_put/kv_get errors and the held-value convention
    (if (i32.eq (local.get $s) (i32.const 118)) (then
      (call $rec (call $kv_put (i32.const 144) (i32.const 0) (i32.const 96) (i32.const 2)))
      (call $rec (call $kv_put (i32.const 144) (i32.const 1025) (i32.const 96) (i32.const 2)))
      (call $rec (call $kv_put (i32.const 144) (i32.const 3) (i32.const 0) (i32.const 2000)))
      (call $rec (call $kv_get (i32.const 144) (i32.const 3) (i32.const 4096) (i32.const 16)))
      (call $rec (call $take (i32.const 0) (i32.const 0)))
      (call $rec (call $kv_put (i32.const 144) (i32.const 3) (i32.const 80) (i32.const 10)))
      (call $rec (call $kv_get (i32.const 144) (i32.const 3) (i32.const 4096) (i32.const 4)))
      (call $takeAll)
      (return (call $finish))))
    ;; i: what take returned inside _initialize
    (if (i32.eq (local.get $s) (i32.const 105)) (then
      (call $rec (global.get $initTake))
      (return (call $finish))))
    ;; W: WASI without a file system, sockets, arguments or environment
    (if (i32.eq (local.get $s) (i32.const 87)) (then
      (call $rec (call $fd_prestat_get (i32.const 3) (i32.const 4096)))
      (call $rec (call $sock_accept (i32.const 3) (i32.const 0) (i32.const 4096)))
      (call $rec (call $proc_raise (i32.const 1)))
      (call $rec (call $args_sizes_get (i32.const 4096) (i32.const 4100)))
      (call $rec (i32.load (i32.const 4096)))
      (call $rec (call $environ_sizes_get (i32.const 4096) (i32.const 4100)))
      (call $rec (i32.load (i32.const 4096)))
      (return (call $finish))))
    ;; X: proc_exit ends the instance
    (if (i32.eq (local.get $s) (i32.const 88)) (then
      (call $proc_exit (i32.const 3))))
    ;; T: trap
    (if (i32.eq (local.get $s) (i32.const 84)) (then unreachable))
    ;; F: a task error with a message
    (if (i32.eq (local.get $s) (i32.const 70)) (then
      (drop (call $output (i32.const 160) (i32.const 4)))
      (return (i32.const 1))))
    ;; R: a handler result other than 0 and 1 is a task error too
    (if (i32.eq (local.get $s) (i32.const 82)) (then
      (drop (call $output (i32.const 176) (i32.const 5)))
      (return (i32.const 7))))
    ;; anything else: echo the input
    (drop (call $output (local.get $p) (local.get $n)))
    (i32.const 0)))
