// probe is a test task in AssemblyScript that runs each part of the SDK on
// a command given as its input ("<command> <argument>") and reports what
// the host answered; guest-sdk/build/assemblyscript_test.go drives it.
import {
  handle, call, callAsync, start, Pending, log, Level, put, get, fail, bytes, text, concat, Code, Result,
} from "@fusionize/task";
export { fusionize_abi_version, fusionize_alloc, fusionize_handle } from "@fusionize/task";

function report(r: Result): Uint8Array {
  if (r.ok) return concat([bytes("ok:"), r.value]);
  const e = r.error!;
  return bytes("err:" + e.code.toString() + ":" + e.toString());
}

handle((input: Uint8Array): Uint8Array => {
  const s = text(input);
  const sp = s.indexOf(" ");
  const cmd = sp < 0 ? s : s.substring(0, sp);
  const arg = sp < 0 ? "" : s.substring(sp + 1);
  if (cmd == "echo") return input.slice(5);
  if (cmd == "call") {
    // "call <task> <payload>"
    const sp2 = arg.indexOf(" ");
    return report(call(arg.substring(0, sp2), bytes(arg.substring(sp2 + 1))));
  }
  if (cmd == "big") {
    // A result larger than the SDK's result buffer comes through take.
    const n = I32.parseInt(arg);
    const payload = new Uint8Array(n);
    payload.fill(0x78);
    const r = call("echo", payload);
    if (!r.ok) return report(r);
    for (let i = 0; i < r.value.length; i++) {
      if (r.value[i] != 0x78) return fail("byte " + i.toString() + " differs");
    }
    return bytes("len=" + r.value.length.toString());
  }
  if (cmd == "async") {
    const err = callAsync(arg, bytes("async"));
    return err == null ? bytes("ok") : bytes("err:" + err.code.toString() + ":" + err.toString());
  }
  if (cmd == "par") {
    // Three calls in parallel, to a Go and a WAT task.
    const a = start("echo", bytes("one"));
    const b = start("wecho", bytes("two"));
    const c = start("echo", bytes("three"));
    return concat([report(a.wait()), bytes(","), report(b.wait()), bytes(","), report(c.wait())]);
  }
  if (cmd == "toomany") {
    const started: Pending[] = [];
    let refused = "";
    for (let i = 0; i < 65; i++) {
      const p = start("echo", bytes(i.toString()));
      if (p.error != null) {
        refused = p.error!.code.toString() + " " + p.error!.is(Code.TooMany).toString();
        break;
      }
      started.push(p);
    }
    let sum = 0;
    for (let i = 0; i < started.length; i++) sum += I32.parseInt(text(started[i].wait().value));
    return bytes("started=" + started.length.toString() + " refused=" + refused + " sum=" + sum.toString());
  }
  if (cmd == "kv") {
    const err = put("probe/" + arg, bytes("v-" + arg));
    if (err != null) return fail(err.toString());
    const got = get("probe/" + arg);
    const missing = get("probe/missing");
    return concat([report(got), bytes(" "), report(missing), bytes(" " + missing.error!.is(Code.NotFound).toString())]);
  }
  if (cmd == "log") {
    log(Level.Warn, "probe says " + arg);
    return bytes("logged");
  }
  if (cmd == "fail") return fail("probe failed: " + arg);
  if (cmd == "abort") {
    assert(false, "probe aborts: " + arg);
  }
  if (cmd == "random") {
    return bytes((Math.random() < 1.0).toString());
  }
  return fail("unknown command " + cmd);
});
