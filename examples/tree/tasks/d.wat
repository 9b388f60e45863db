;; Task D of the tree app, written by hand in WebAssembly text against the
;; Fusionize guest ABI v1 (guest-sdk/ABI.md). It is called by B (Go) and calls
;; E (Go), so the ABI is exercised across languages in both directions.
;;
;; D's work:
;;   1. checksum: FNV-1a over its input, chained ROUNDS (4000) times (CPU work);
;;   2. call E sync with {"d":"<checksum hex>","in":<D's input>};
;;      E's result goes into a deliberately small 32-byte buffer, so the
;;      "grow memory and take" path of the ABI runs on every request;
;;   3. output {"d":"<checksum>","e_fnv":"<FNV-1a of E's result>","e":<E's result>}.
;; If E fails, D fails with E's error message (fetched with take).
;;
;; Memory: constants at 16..127; the input at 1024 (fusionize_alloc hands out
;; one static buffer there, grown to fit); the scratch regions of one
;; invocation follow the input. Nothing is kept between invocations.
(module
  (import "fusionize" "call"
    (func $call (param $task i32) (param $task_len i32) (param $in i32) (param $in_len i32)
                (param $out i32) (param $out_cap i32) (result i32)))
  (import "fusionize" "take" (func $take (param $out i32) (param $out_cap i32) (result i32)))
  (import "fusionize" "output" (func $output (param $ptr i32) (param $len i32) (result i32)))

  (memory (export "memory") 1)

  (data (i32.const 16) "E")
  (data (i32.const 32) "0123456789abcdef")
  (data (i32.const 64) "{\"d\":\"")         ;; 6 bytes
  (data (i32.const 72) "\",\"in\":")        ;; 7 bytes
  (data (i32.const 80) "\",\"e_fnv\":\"")   ;; 11 bytes
  (data (i32.const 96) "\",\"e\":")         ;; 6 bytes
  (data (i32.const 104) "}")

  (global $IN_BASE i32 (i32.const 1024))
  (global $ROUNDS i32 (i32.const 4000))
  (global $RESULT_CAP i32 (i32.const 32))

  (func (export "fusionize_abi_version") (result i32) (i32.const 1))

  (func (export "fusionize_alloc") (param $size i32) (result i32)
    (if (i32.eqz (call $ensure (i32.add (global.get $IN_BASE) (local.get $size))))
      (then (return (i32.const 0))))
    (global.get $IN_BASE))

  ;; ensure grows memory so that [0, end) is addressable; 0 if it cannot.
  (func $ensure (param $end i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.sub
        (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
        (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.eq (memory.grow (local.get $need)) (i32.const -1))
        (then (return (i32.const 0))))))
    (i32.const 1))

  (func $align8 (param $p i32) (result i32)
    (i32.and (i32.add (local.get $p) (i32.const 7)) (i32.const -8)))

  ;; copy len bytes from src to dst; returns dst+len.
  (func $copy (param $dst i32) (param $src i32) (param $len i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (i32.store8 (i32.add (local.get $dst) (local.get $i))
                    (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.add (local.get $dst) (local.get $len)))

  ;; hex8 writes v as 8 lowercase hex digits at dst; returns dst+8.
  (func $hex8 (param $dst i32) (param $v i32) (result i32)
    (local $i i32)
    (loop $next
      (i32.store8 (i32.add (local.get $dst) (local.get $i))
        (i32.load8_u (i32.add (i32.const 32)
          (i32.and (i32.shr_u (local.get $v) (i32.sub (i32.const 28) (i32.shl (local.get $i) (i32.const 2))))
                   (i32.const 15)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 8))))
    (i32.add (local.get $dst) (i32.const 8)))

  ;; fnv continues the FNV-1a hash h over ptr[0:len).
  (func $fnv (param $h i32) (param $ptr i32) (param $len i32) (result i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $ptr) (local.get $end)))
        (local.set $h (i32.mul (i32.xor (local.get $h) (i32.load8_u (local.get $ptr)))
                               (i32.const 0x01000193)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $next)))
    (local.get $h))

  ;; fail outputs the message held by the host (E's error) and returns 1.
  (func $fail (param $buf i32) (result i32)
    (local $n i32)
    (local.set $n (call $take (i32.const 0) (i32.const 0)))
    (if (i32.eqz (call $ensure (i32.add (local.get $buf) (local.get $n))))
      (then unreachable))
    (drop (call $take (local.get $buf) (local.get $n)))
    (drop (call $output (local.get $buf) (local.get $n)))
    (i32.const 1))

  (func (export "fusionize_handle") (param $ptr i32) (param $len i32) (result i32)
    (local $h i32) (local $r i32)
    (local $x i32) (local $xlen i32) (local $p i32)
    (local $res i32) (local $n i32)
    (local $o i32)

    ;; 1. the checksum: FNV-1a over the input, ROUNDS times.
    (local.set $h (i32.const 0x811c9dc5))
    (block $done
      (loop $round
        (br_if $done (i32.ge_u (local.get $r) (global.get $ROUNDS)))
        (local.set $h (call $fnv (local.get $h) (local.get $ptr) (local.get $len)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $round)))

    ;; 2. E's input at x: {"d":"<h>","in":<input>}
    (local.set $x (call $align8 (i32.add (local.get $ptr) (local.get $len))))
    (local.set $xlen (i32.add (local.get $len) (i32.const 22)))
    (local.set $res (call $align8 (i32.add (local.get $x) (local.get $xlen))))
    (if (i32.eqz (call $ensure (i32.add (local.get $res) (global.get $RESULT_CAP))))
      (then unreachable))
    (local.set $p (call $copy (local.get $x) (i32.const 64) (i32.const 6)))
    (local.set $p (call $hex8 (local.get $p) (local.get $h)))
    (local.set $p (call $copy (local.get $p) (i32.const 72) (i32.const 7)))
    (local.set $p (call $copy (local.get $p) (local.get $ptr) (local.get $len)))
    (drop (call $copy (local.get $p) (i32.const 104) (i32.const 1)))

    (local.set $n (call $call (i32.const 16) (i32.const 1)
                              (local.get $x) (local.get $xlen)
                              (local.get $res) (global.get $RESULT_CAP)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (call $fail (local.get $res)))))
    (if (i32.gt_u (local.get $n) (global.get $RESULT_CAP))
      (then
        ;; The result did not fit: grow and take it from the host.
        (if (i32.eqz (call $ensure (i32.add (local.get $res) (local.get $n))))
          (then unreachable))
        (if (i32.ne (call $take (local.get $res) (local.get $n)) (local.get $n))
          (then unreachable))))

    ;; 3. the output at o: {"d":"<h>","e_fnv":"<fnv(E)>","e":<E's result>}
    (local.set $o (call $align8 (i32.add (local.get $res) (local.get $n))))
    (if (i32.eqz (call $ensure (i32.add (local.get $o) (i32.add (local.get $n) (i32.const 40)))))
      (then unreachable))
    (local.set $p (call $copy (local.get $o) (i32.const 64) (i32.const 6)))
    (local.set $p (call $hex8 (local.get $p) (local.get $h)))
    (local.set $p (call $copy (local.get $p) (i32.const 80) (i32.const 11)))
    (local.set $p (call $hex8 (local.get $p)
                    (call $fnv (i32.const 0x811c9dc5) (local.get $res) (local.get $n))))
    (local.set $p (call $copy (local.get $p) (i32.const 96) (i32.const 6)))
    (local.set $p (call $copy (local.get $p) (local.get $res) (local.get $n)))
    (local.set $p (call $copy (local.get $p) (i32.const 104) (i32.const 1)))
    (drop (call $output (local.get $o) (i32.sub (local.get $p) (local.get $o))))
    (i32.const 0))
)
