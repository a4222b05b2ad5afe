// What the SDK scripts share: a check that a call fails with the SDK's error class, and the loop
// that runs the checks, prints one line per check and "N passed, N failed", and exits 1 when a
// check failed.
import assert from 'node:assert/strict';
import process from 'node:process';

// Runs `fn`, which must reject with an instance of `errorClass` (and `status`, when given).
export async function expectError(fn, errorClass, status) {
  let caught;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, `expected ${errorClass.name}, but the call succeeded`);
  assert.ok(caught instanceof errorClass,
            `expected ${errorClass.name}, got ${caught?.constructor?.name}: ${caught?.message}`);
  if (status !== undefined) {
    assert.equal(caught.status, status);
  }
  // The SDK parsed an OpenAI-shaped error body.
  assert.equal(typeof caught.error?.message, 'string', 'error body has error.message');
  return caught;
}

// `checks`: [name, async fn] pairs, run in order.
export async function runChecks(checks) {
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of checks) {
    try {
      await fn();
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (err) {
      failed += 1;
      console.log(`FAIL ${name}: ${err?.stack ?? err}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
