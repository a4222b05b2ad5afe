// DashScope's native API (fwdctl --provider dashscope) through the official OpenAI Node SDK: the
// SDK speaks OpenAI's chat API to fwd, fwd speaks DashScope's text-generation API upstream, and
// every answer — plain, streamed, with tool calls, assembled from a stream, an error — must be
// one the SDK parses as OpenAI's own.
//
//   FWD_BASE_URL=http://127.0.0.1:8000/v1 FWD_API_KEY=sk-fwd-... node dashscope_test.mjs
//
// fwd must send qwen-* to a tests/fakes/fake_upstream named "ds" in DashScope mode (models
// qwen-plus and qwen-max), and conv-qwen to the same fake with --stream-mode stream.
//
// Prints one line per check and "N passed, N failed"; exits 1 when a check failed, 2 on usage.
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import {
  clientFromEnv, expectError, messages, readChatStream, runChecks, streamError, toolCalls, tools,
} from './checks.mjs';

const client = clientFromEnv('dashscope_test.mjs');

const checks = [
  ['chat completion translated from DashScope', async () => {
    const c = await client.chat.completions.create({ model: 'qwen-plus', messages });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.model, 'qwen-plus');
    assert.equal(c.choices[0].message.content, 'Hello from ds');
    assert.equal(c.choices[0].finish_reason, 'stop');
    assert.deepEqual(
      { p: c.usage.prompt_tokens, c: c.usage.completion_tokens, t: c.usage.total_tokens },
      { p: 10, c: 3, t: 13 });
  }],

  ["DashScope's incremental stream as chunk events, usage when asked", async () => {
    const r = await readChatStream(await client.chat.completions.create({
      model: 'qwen-max', messages, stream: true, stream_options: { include_usage: true },
    }));
    assert.deepEqual(r.objects, ['chat.completion.chunk']);
    assert.equal(r.content, 'Hello from ds t3 t4');
    assert.equal(r.finish, 'stop');
    assert.equal(r.usage?.completion_tokens, 5);
  }],

  ["the SDK's stream helper assembles a tool call from DashScope's deltas", async () => {
    const runner = client.chat.completions.stream({ model: 'qwen-plus', messages, tools }, toolCalls);
    const final = await runner.finalChatCompletion();
    const call = final.choices[0].message.tool_calls[0];
    assert.equal(call.id, 'call_fake');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
  }],

  ['a tool call in a plain answer', async () => {
    const c = await client.chat.completions.create({ model: 'qwen-plus', messages, tools }, toolCalls);
    const call = c.choices[0].message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
  }],

  ["one answer assembled from DashScope's stream (--stream-mode stream)", async () => {
    const c = await client.chat.completions.create({ model: 'conv-qwen', messages });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.choices[0].message.content, 'Hello from ds t3 t4');
    assert.equal(c.usage.completion_tokens, 5);
  }],

  ["DashScope's data inspection is a BadRequestError with code content_filter", async () => {
    const err = await expectError(
      () => client.chat.completions.create({
        model: 'qwen-plus', messages: [{ role: 'user', content: 'FILTER_ME' }],
      }),
      OpenAI.BadRequestError, 400);
    assert.equal(err.code, 'content_filter');
  }],

  ["a model DashScope does not have is a NotFoundError", async () => {
    const err = await expectError(
      () => client.chat.completions.create({ model: 'qwen-nope', messages }),
      OpenAI.NotFoundError, 404);
    assert.equal(err.code, 'model_not_found');
  }],

  ['a parameter DashScope cannot express is a BadRequestError naming it', async () => {
    const err = await expectError(
      () => client.chat.completions.create({ model: 'qwen-plus', messages, logit_bias: { 1: 2 } }),
      OpenAI.BadRequestError, 400);
    assert.equal(err.param, 'logit_bias');
  }],

  ['an error event in the stream is thrown by the SDK', async () => {
    const err = await streamError(await client.chat.completions.create(
      { model: 'qwen-plus', messages, stream: true }, { headers: { 'x-fake-error-event': '1' } }));
    assert.match(err.message, /inappropriate content/);
  }],

  // Last: a 429 cools the upstream for a second.
  ["DashScope's throttling is a RateLimitError", async () => {
    const err = await expectError(
      () => client.chat.completions.create(
        { model: 'qwen-plus', messages }, { headers: { 'x-fake-status': '429' } }),
      OpenAI.RateLimitError, 429);
    assert.equal(err.code, 'rate_limit_exceeded');
  }],
];

await runChecks(checks);
