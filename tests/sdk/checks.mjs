// What the SDK scripts share: the client from FWD_BASE_URL and FWD_API_KEY, the chat request of
// the tool-call checks, reading a chat stream, checks that a call (or a stream) fails with the
// SDK's error class, and the loop that runs the checks, prints one line per check and
// "N passed, N failed", and exits 1 when a check failed.
import assert from 'node:assert/strict';
import process from 'node:process';

import OpenAI from 'openai';

// The SDK's client for fwd at FWD_BASE_URL with key FWD_API_KEY (no retries, 20 s timeout);
// without them, prints the usage of `script` and exits 2.
export function clientFromEnv(script) {
  const baseURL = process.env.FWD_BASE_URL;
  const apiKey = process.env.FWD_API_KEY;
  if (!baseURL || !apiKey) {
    console.error(`usage: FWD_BASE_URL=http://HOST:PORT/v1 FWD_API_KEY=KEY node ${script}`);
    process.exit(2);
  }
  return new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20_000 });
}

// A question the fake answers with get_weather({"city":"Paris"}) when asked (toolCalls).
export const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
export const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
  },
}];
export const toolCalls = { headers: { 'x-fake-tool-calls': '1' } };

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

// Reads a chat stream to its end: its deltas' content, the last finish_reason, the usage chunk's
// usage (or null), how many chunks came and the distinct `object` values they had.
export async function readChatStream(stream) {
  const out = { content: '', finish: null, usage: null, chunks: 0, objects: [] };
  for await (const chunk of stream) {
    out.chunks += 1;
    if (!out.objects.includes(chunk.object)) {
      out.objects.push(chunk.object);
    }
    out.usage = chunk.usage ?? out.usage;
    for (const c of chunk.choices) {
      out.content += c.delta?.content ?? '';
      out.finish = c.finish_reason ?? out.finish;
    }
  }
  return out;
}

// Reads `stream`, which must end with an error event the SDK throws as an APIError; returns it.
export async function streamError(stream) {
  let caught;
  try {
    for await (const chunk of stream) {
      void chunk;
    }
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof OpenAI.APIError, `expected an APIError, got ${caught}`);
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
