// Replicate (fwdctl --provider replicate) through the official OpenAI Node SDK: the SDK speaks
// OpenAI's chat API to fwd, fwd creates Replicate predictions upstream and follows them (taken
// whole, polled, or streamed from their stream URL), and every answer — plain, streamed, assembled
// from a stream, an error — must be one the SDK parses as OpenAI's own.
//
//   FWD_BASE_URL=http://127.0.0.1:8000/v1 FWD_API_KEY=sk-fwd-... node replicate_test.mjs
//
// fwd must send owner/name models to a tests/fakes/fake_upstream named "rep" in Replicate mode
// (models mistralai/mistral-7b-instruct-v0.2 and conv/mistral), conv/* with --stream-mode
// stream.
//
// Prints one line per check and "N passed, N failed"; exits 1 when a check failed, 2 on usage.
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import {
  clientFromEnv, expectError, messages, readChatStream, runChecks, streamError, tools,
} from './checks.mjs';

const client = clientFromEnv('replicate_test.mjs');
const model = 'mistralai/mistral-7b-instruct-v0.2';

const checks = [
  ['chat completion from a Replicate prediction', async () => {
    const c = await client.chat.completions.create({ model, messages });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.model, model);
    assert.equal(c.choices[0].message.content, 'Hello from rep');
    assert.equal(c.choices[0].finish_reason, 'stop');
    assert.deepEqual(
      { p: c.usage.prompt_tokens, c: c.usage.completion_tokens, t: c.usage.total_tokens },
      { p: 10, c: 3, t: 13 });
  }],

  ['a prediction polled until done', async () => {
    const c = await client.chat.completions.create(
      { model, messages }, { headers: { 'x-fake-replicate-polls': '1' } });
    assert.equal(c.choices[0].message.content, 'Hello from rep');
  }],

  ["Replicate's stream as chunk events, usage when asked", async () => {
    const r = await readChatStream(await client.chat.completions.create({
      model, messages, stream: true, stream_options: { include_usage: true },
    }));
    assert.deepEqual(r.objects, ['chat.completion.chunk']);
    assert.equal(r.content, 'Hello from rep t3 t4');
    assert.equal(r.finish, 'stop');
    assert.equal(r.usage?.completion_tokens, 5);
  }],

  ["the SDK's stream helper assembles Replicate's stream", async () => {
    const runner = client.chat.completions.stream({ model, messages });
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices[0].message.content, 'Hello from rep t3 t4');
    assert.equal(final.choices[0].finish_reason, 'stop');
  }],

  ["one answer assembled from Replicate's stream (--stream-mode stream)", async () => {
    const c = await client.chat.completions.create({ model: 'conv/mistral', messages });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.choices[0].message.content, 'Hello from rep t3 t4');
    assert.equal(c.usage.completion_tokens, 5);
  }],

  ['a model Replicate does not have is a NotFoundError', async () => {
    const err = await expectError(
      () => client.chat.completions.create({ model: 'acme/nope', messages }),
      OpenAI.NotFoundError, 404);
    assert.equal(err.code, 'model_not_found');
  }],

  ['tools, which Replicate cannot express, are a BadRequestError naming them', async () => {
    const err = await expectError(
      () => client.chat.completions.create({ model, messages, tools }),
      OpenAI.BadRequestError, 400);
    assert.equal(err.param, 'tools');
  }],

  ['a failed prediction in a stream is thrown by the SDK', async () => {
    const err = await streamError(await client.chat.completions.create(
      { model, messages, stream: true }, { headers: { 'x-fake-replicate-fail': '1' } }));
    assert.match(err.message, /CUDA out of memory/);
  }],

  ["Replicate's out-of-credit problem is a RateLimitError with code insufficient_quota", async () => {
    const err = await expectError(
      () => client.chat.completions.create(
        { model, messages }, { headers: { 'x-fake-status': '402' } }),
      OpenAI.RateLimitError, 429);
    assert.equal(err.code, 'insufficient_quota');
  }],
];

await runChecks(checks);
