// Task B of the tree app, in AssemblyScript: hashes its input and calls D
// (the WAT task) sync. Its caller, A, is a Go task: the chain A→B→D→E
// crosses three languages.
import { handle, call, fail, bytes, concat } from "@fusionize/task";
import { sha256 } from "./sha256";
export { fusionize_abi_version, fusionize_alloc, fusionize_handle } from "@fusionize/task";

const sum = new Uint8Array(32);
const hexDigits = "0123456789abcdef";

// spin is the task's CPU work: a chain of SHA-256 rounds over data.
function spin(data: Uint8Array, rounds: i32): Uint8Array {
  sha256(data, sum);
  for (let i = 1; i < rounds; i++) sha256(sum, sum);
  return sum;
}

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) {
    s += hexDigits.charAt(b[i] >> 4) + hexDigits.charAt(b[i] & 15);
  }
  return s;
}

handle((input: Uint8Array): Uint8Array => {
  const s = spin(input, 400);
  const d = call("D", input);
  if (!d.ok) return fail(d.error!.toString());
  return concat([bytes(`{"task":"B","sum":"${hex(s.subarray(0, 8))}","d":`), d.value, bytes("}")]);
});
