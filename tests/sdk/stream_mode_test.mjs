// Stream conversion (fwdctl --stream-mode) through the official OpenAI Node SDK: every answer fwd
// converts must be one the SDK parses as it parses OpenAI's own, streamed or not, with tool
// calls, with the usage chunk, with an upstream's error and with a stream cut.
//
//   FWD_BASE_URL=http://127.0.0.1:8000/v1 FWD_API_KEY=sk-fwd-... node stream_mode_test.mjs
//
// fwd must send models gpt-s* to a tests/fakes/fake_upstream named "sdk" with --stream-mode
// stream (the upstream always streams; a client that asked for no stream gets one answer) and
// models gpt-j* to one with --stream-mode non-stream (the upstream never streams; a client that
// asked for a stream gets stream events).
//
// Prints one line per check and "N passed, N failed"; exits 1 when a check failed, 2 on usage.
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import {
  clientFromEnv, expectError, messages, runChecks, toolCalls, tools,
} from './checks.mjs';

const client = clientFromEnv('stream_mode_test.mjs');
const errorEvent = { headers: { 'x-fake-error-event': '1' } };

// The content, finish reason, usage and chunk count of a stream the SDK iterates.
async function drain(stream) {
  let content = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  let role = null;
  for await (const chunk of stream) {
    chunks += 1;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) {
      usage = chunk.usage;
    }
    for (const c of chunk.choices) {
      role = role ?? c.delta.role ?? null;
      content += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  return { content, finish, usage, chunks, role };
}

const checks = [
  ['stream upstream, plain client: one chat.completion with usage', async () => {
    const c = await client.chat.completions.create({ model: 'gpt-s1', messages });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.choices[0].message.role, 'assistant');
    // The fake streams five chunks: the answer was assembled from the stream.
    assert.equal(c.choices[0].message.content, 'Hello from sdk t3 t4');
    assert.equal(c.choices[0].finish_reason, 'stop');
    assert.ok(c.usage.total_tokens > 0, 'usage from the usage chunk fwd asked for');
  }],

  ['stream upstream, plain client: tool calls assembled from their deltas', async () => {
    const c = await client.chat.completions.create({ model: 'gpt-s1', messages, tools }, toolCalls);
    const call = c.choices[0].message.tool_calls[0];
    assert.equal(call.id, 'call_fake');
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.equal(c.choices[0].message.content, null);
    assert.equal(c.choices[0].finish_reason, 'tool_calls');
  }],

  ['stream upstream, plain client: an error event is a BadRequestError', async () => {
    const err = await expectError(
      () => client.chat.completions.create({ model: 'gpt-s1', messages }, errorEvent),
      OpenAI.BadRequestError, 400);
    assert.equal(err.code, 'context_length_exceeded');
  }],

  ['stream upstream, plain client: a cut stream is a 502, not half an answer', async () => {
    await expectError(
      () => client.chat.completions.create(
        { model: 'gpt-s1', messages }, { headers: { 'x-fake-cut-after': '2' } }),
      OpenAI.InternalServerError, 502);
  }],

  ['stream upstream, plain client: text completions assembled', async () => {
    const c = await client.completions.create({ model: 'gpt-s1', prompt: 'Say hello.' });
    assert.equal(c.object, 'text_completion');
    assert.equal(c.choices[0].text, 'Hello from sdk t3 t4');
  }],

  ['plain upstream, streaming client: stream events and [DONE]', async () => {
    const s = await client.chat.completions.create({ model: 'gpt-j1', messages, stream: true });
    const got = await drain(s);
    // The fake's plain answer is three tokens.
    assert.equal(got.content, 'Hello from sdk');
    assert.equal(got.role, 'assistant');
    assert.equal(got.finish, 'stop');
    assert.equal(got.usage, null, 'no usage chunk unless asked');
  }],

  ['plain upstream, streaming client: the usage chunk when asked', async () => {
    const s = await client.chat.completions.create({
      model: 'gpt-j1', messages, stream: true, stream_options: { include_usage: true },
    });
    const got = await drain(s);
    assert.equal(got.content, 'Hello from sdk');
    assert.ok(got.usage?.total_tokens > 0, 'usage in the last chunk');
  }],

  ['plain upstream, streaming client: the SDK stream helper assembles the tool call', async () => {
    const runner = client.chat.completions.stream(
      { model: 'gpt-j1', messages, tools }, toolCalls);
    const final = await runner.finalChatCompletion();
    const call = final.choices[0].message.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
  }],

  ['plain upstream, streaming client: an error answer is a BadRequestError', async () => {
    await expectError(
      () => client.chat.completions.create({ model: 'gpt-j1', messages, stream: true }, errorEvent),
      OpenAI.BadRequestError, 400);
  }],

  ['plain upstream, streaming client: text completion events', async () => {
    const s = await client.completions.create({ model: 'gpt-j1', prompt: 'Hi', stream: true });
    let text = '';
    for await (const chunk of s) {
      text += chunk.choices[0]?.text ?? '';
    }
    assert.equal(text, 'Hello from sdk');
  }],
];

await runChecks(checks);
