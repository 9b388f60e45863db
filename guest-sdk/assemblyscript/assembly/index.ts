// The AssemblyScript SDK for Fusionize tasks: the exports and imports of the
// Fusionize guest ABI, version 1 (guest-sdk/ABI.md), in AssemblyScript.
//
// A task is one entry file that re-exports the ABI's exports and registers a
// handler at the top level (top-level code runs once, in `_initialize`):
//
//   import { handle, call, callAsync, fail, bytes } from "@fusionize/task";
//   export { fusionize_abi_version, fusionize_alloc, fusionize_handle } from "@fusionize/task";
//
//   handle((input: Uint8Array): Uint8Array => {
//     const b = call("B", input);          // sync: in memory or remote, the host decides
//     if (!b.ok) return fail(b.error!.toString());
//     const err = callAsync("C", input);   // fire and forget
//     if (err != null) return fail(err.toString());
//     return b.value;
//   });
//
// AssemblyScript has no exceptions that a handler could catch, so every
// call returns its error as a value: a `Result` (value or `CallError`) or a
// `CallError | null`. A CallError's `code` is one of the ABI's error codes
// (`Code`), the same codes the Go SDK's sentinel errors stand for.
//
// Everything here is for one instance, which runs one invocation at a time.

// ---- the host's imports (module "fusionize") ----------------------------

@external("fusionize", "output")
declare function hostOutput(ptr: usize, len: u32): i32;
@external("fusionize", "call")
declare function hostCall(taskPtr: usize, taskLen: u32, inPtr: usize, inLen: u32, outPtr: usize, outCap: u32): i32;
@external("fusionize", "call_async")
declare function hostCallAsync(taskPtr: usize, taskLen: u32, inPtr: usize, inLen: u32): i32;
@external("fusionize", "call_start")
declare function hostCallStart(taskPtr: usize, taskLen: u32, inPtr: usize, inLen: u32): i32;
@external("fusionize", "call_wait")
declare function hostCallWait(h: i32, outPtr: usize, outCap: u32): i32;
@external("fusionize", "take")
declare function hostTake(outPtr: usize, outCap: u32): i32;
@external("fusionize", "log")
declare function hostLog(level: i32, ptr: usize, len: u32): void;
@external("fusionize", "kv_put")
declare function hostKVPut(keyPtr: usize, keyLen: u32, valPtr: usize, valLen: u32): i32;
@external("fusionize", "kv_get")
declare function hostKVGet(keyPtr: usize, keyLen: u32, outPtr: usize, outCap: u32): i32;

@external("wasi_snapshot_preview1", "random_get")
declare function wasiRandomGet(buf: usize, len: usize): u16;

// ---- error codes -------------------------------------------------------

/** The ABI's error codes (guest-sdk/ABI.md, "Error codes"). */
export enum Code {
  UnknownTask = -1,
  Failed = -2,
  TooLarge = -3,
  Depth = -4,
  Deadline = -5,
  Unavailable = -6,
  BadArgument = -7,
  Internal = -8,
  NotFound = -9,
  TooMany = -10,
}

/** The text the Go SDK's sentinel error for code has. */
export function codeText(code: Code): string {
  switch (code) {
    case Code.UnknownTask: return "unknown task";
    case Code.Failed: return "task failed";
    case Code.TooLarge: return "payload too large";
    case Code.Depth: return "call depth exceeded";
    case Code.Deadline: return "deadline exceeded";
    case Code.Unavailable: return "task unavailable";
    case Code.BadArgument: return "bad argument";
    case Code.Internal: return "host internal error";
    case Code.NotFound: return "not found";
    case Code.TooMany: return "too many outstanding calls";
  }
  return "host internal error";
}

/** The error of a failed call, start, wait or key-value access. */
export class CallError {
  constructor(
    /** The callee, or the key for key-value errors. */
    public task: string,
    public code: Code,
    /** The host's or the callee's message; may be empty. */
    public message: string,
  ) {}

  /** Reports whether the error has code c (as errors.Is does in Go). */
  is(c: Code): bool {
    return this.code == c;
  }

  /** "call <task>: <message>", or the code's text without a message, as in Go. */
  toString(): string {
    return "call " + this.task + ": " + (this.message.length > 0 ? this.message : codeText(this.code));
  }
}

/** The result of a sync call or a key-value read: a value or an error. */
export class Result {
  constructor(public value: Uint8Array, public error: CallError | null) {}

  /** True when the call succeeded. */
  get ok(): bool {
    return this.error == null;
  }
}

// ---- the handler and the ABI's exports ---------------------------------

/** A handler runs one invocation and returns its output (or `fail(...)`). */
export type Handler = (input: Uint8Array) => Uint8Array;

let handler: Handler | null = null;
let failed = false;
let failure: Uint8Array = new Uint8Array(0);

/**
 * Registers h as the task's handler. Call it at the top level of the task's
 * entry file. The input is a view of the SDK's input buffer, which the next
 * invocation overwrites: copy it (`input.slice()`) to keep it.
 */
export function handle(h: Handler): void {
  handler = h;
}

/**
 * Marks the invocation as failed with message and returns an empty array, so
 * that a handler can `return fail("...")`. The last call wins.
 */
export function fail(message: string): Uint8Array {
  failed = true;
  failure = bytes(message);
  return new Uint8Array(0);
}

const abiVersion: i32 = 1;

/** Export `fusionize_abi_version`: the ABI version this SDK implements. */
export function fusionize_abi_version(): i32 {
  return abiVersion;
}

// The input region handed to the host: kept in a global so the collector
// never frees it while the host may write into it.
let inBuf: ArrayBuffer = new ArrayBuffer(64);

/** Export `fusionize_alloc`: returns an input region of at least size bytes. */
export function fusionize_alloc(size: u32): usize {
  if (<u32>inBuf.byteLength < size) {
    // A failed allocation traps (AssemblyScript's allocator aborts rather
    // than returning 0); the host reports the trap naming the task.
    inBuf = new ArrayBuffer(<i32>size);
  }
  return changetype<usize>(inBuf);
}

/** Export `fusionize_handle`: runs the handler on ptr[0:len). */
export function fusionize_handle(ptr: usize, len: u32): i32 {
  failed = false;
  const h = handler;
  if (h == null) {
    setOutput(bytes("task: no handler registered (call handle() at the top level of the entry file)"));
    return 1;
  }
  let input: Uint8Array;
  if (len == 0) {
    input = new Uint8Array(0);
  } else {
    // The host wrote the input into inBuf, the region fusionize_alloc returned.
    input = Uint8Array.wrap(inBuf, <i32>(ptr - changetype<usize>(inBuf)), <i32>len);
  }
  const out = h(input);
  if (failed) {
    setOutput(failure);
    failure = new Uint8Array(0);
    return 1;
  }
  // An output the host refuses (over the payload limit) is still a success
  // status: the host reports the refusal as TOO_LARGE.
  setOutput(out);
  return 0;
}

function setOutput(b: Uint8Array): i32 {
  return hostOutput(b.dataStart, <u32>b.length);
}

// ---- calls --------------------------------------------------------------

// A reused result buffer: results that fit need no take.
let scratch = new Uint8Array(4096);

function takeAll(): Uint8Array {
  const n = hostTake(0, 0);
  if (n <= 0) return new Uint8Array(0);
  const b = new Uint8Array(n);
  hostTake(b.dataStart, <u32>n);
  return b;
}

function callError(name: string, n: i32): CallError {
  return new CallError(name, <Code>n, text(takeAll()));
}

// finish turns an import's return value n (a result written to scratch, or
// held) into a Result.
function finish(name: string, n: i32): Result {
  if (n < 0) return new Result(new Uint8Array(0), callError(name, n));
  if (n <= scratch.length) return new Result(scratch.slice(0, n), null);
  const b = new Uint8Array(n);
  hostTake(b.dataStart, <u32>n);
  scratch = new Uint8Array(n); // keep the larger buffer for the next call
  return new Result(b, null);
}

/** Calls task name synchronously and returns its result or error. */
export function call(name: string, input: Uint8Array): Result {
  const t = String.UTF8.encode(name);
  const n = hostCall(changetype<usize>(t), <u32>t.byteLength, input.dataStart, <u32>input.length,
    scratch.dataStart, <u32>scratch.length);
  return finish(name, n);
}

/**
 * Starts task name and does not wait (fire and forget). Returns null once
 * the host accepted the call; the callee's failure is recorded by the host,
 * not returned here.
 */
export function callAsync(name: string, input: Uint8Array): CallError | null {
  const t = String.UTF8.encode(name);
  const n = hostCallAsync(changetype<usize>(t), <u32>t.byteLength, input.dataStart, <u32>input.length);
  return n < 0 ? callError(name, n) : null;
}

/** A sync call started with `start`, running in parallel with the caller. */
export class Pending {
  constructor(
    public task: string,
    private handle: i32,
    /** Set when the call could not be started; wait() returns it. */
    public error: CallError | null,
  ) {}

  /** Waits for the call and returns its result or error. */
  wait(): Result {
    const err = this.error;
    if (err != null) return new Result(new Uint8Array(0), err);
    return finish(this.task, hostCallWait(this.handle, scratch.dataStart, <u32>scratch.length));
  }
}

/**
 * Starts a sync call to task name that runs in parallel with the caller.
 * Wait for every started call before the handler returns (the host fails
 * the invocation otherwise); at most 64 per invocation.
 */
export function start(name: string, input: Uint8Array): Pending {
  const t = String.UTF8.encode(name);
  const h = hostCallStart(changetype<usize>(t), <u32>t.byteLength, input.dataStart, <u32>input.length);
  if (h < 0) return new Pending(name, -1, callError(name, h));
  return new Pending(name, h, null);
}

// ---- log ---------------------------------------------------------------

/** Log levels. */
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** Writes message to the host's log at level, attributed to the task. */
export function log(level: Level, message: string): void {
  const b = String.UTF8.encode(message);
  hostLog(<i32>level, changetype<usize>(b), <u32>b.byteLength);
}

// ---- key-value store ---------------------------------------------------

/** Stores value under key in the application's key-value store. */
export function put(key: string, value: Uint8Array): CallError | null {
  const k = String.UTF8.encode(key);
  const n = hostKVPut(changetype<usize>(k), <u32>k.byteLength, value.dataStart, <u32>value.length);
  return n < 0 ? callError(key, n) : null;
}

/**
 * Reads key from the key-value store. An absent key is an error with code
 * `Code.NotFound` (check it with `r.error!.is(Code.NotFound)`).
 */
export function get(key: string): Result {
  const k = String.UTF8.encode(key);
  const n = hostKVGet(changetype<usize>(k), <u32>k.byteLength, scratch.dataStart, <u32>scratch.length);
  return finish(key, n);
}

// ---- bytes and strings -------------------------------------------------

/** The UTF-8 bytes of s. */
export function bytes(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

/** The string of the UTF-8 bytes b. */
export function text(b: Uint8Array): string {
  return String.UTF8.decodeUnsafe(b.dataStart, <usize>b.length);
}

/** The concatenation of parts, as one new array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (let i = 0; i < parts.length; i++) n += parts[i].length;
  const out = new Uint8Array(n);
  let off = 0;
  for (let i = 0; i < parts.length; i++) {
    out.set(parts[i], off);
    off += parts[i].length;
  }
  return out;
}

// ---- runtime hooks (wired by asconfig.json's "use") ----------------------

/**
 * Replaces AssemblyScript's `env.abort` import, which the host does not
 * offer: logs the failed assertion or error at level error, then traps, so
 * the invocation fails with FAILED naming the task.
 */
export function fusionizeAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let m = "abort: " + (message != null ? message : "(no message)");
  if (fileName != null) m += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  log(Level.Error, m);
  unreachable();
}

/** Replaces `env.trace`: writes the message and its values to the log at debug. */
export function fusionizeTrace(message: string, n: i32 = 0, a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0): void {
  let m = "trace: " + message;
  const vals: f64[] = [a0, a1, a2, a3, a4];
  for (let i = 0; i < n && i < 5; i++) m += " " + vals[i].toString();
  log(Level.Debug, m);
}

/** Replaces `env.seed` (Math.random's seed) with WASI's random_get. */
export function fusionizeSeed(): f64 {
  const buf = new ArrayBuffer(8);
  wasiRandomGet(changetype<usize>(buf), 8);
  // An integer of 53 random bits: exact as an f64, never NaN.
  return <f64>(load<u64>(changetype<usize>(buf)) >> 11);
}
