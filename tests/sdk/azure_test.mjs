// Azure OpenAI upstreams (fwdctl --provider azure) through the official OpenAI Node SDK: a client
// written for OpenAI talks to Azure through fwd without knowing it — answers, Azure's streams
// (which open with an event of prompt_filter_results and no choices), tool calls through the
// SDK's stream helper, an answer assembled from Azure's stream (--stream-mode stream), and
// Azure's errors as the SDK's error classes.
//
//   FWD_BASE_URL=http://127.0.0.1:8000/v1 FWD_API_KEY=sk-fwd-... node azure_test.mjs
//
// fwd must send gpt-4o and text-embedding-3-small to a tests/fakes/fake_upstream named "az" in
// Azure mode (deployments gpt4o-prod and embed), and conv-4o to the same fake's gpt4o-prod with
// --stream-mode stream.
//
// Prints one line per check and "N passed, N failed"; exits 1 when a check failed, 2 on usage.
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import {
  clientFromEnv, expectError, messages, readChatStream, runChecks, toolCalls, tools,
} from './checks.mjs';

const client = clientFromEnv('azure_test.mjs');

const checks = [
  ['chat completion from an Azure deployment', async () => {
    const c = await client.chat.completions.create({ model: 'gpt-4o', messages });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.model, 'gpt-4o-2024-08-06');
    assert.equal(c.choices[0].message.content, 'Hello from az');
    assert.ok(c.usage.total_tokens > 0);
  }],

  ["Azure's stream, its prompt-filter event included", async () => {
    const r = await readChatStream(await client.chat.completions.create({
      model: 'gpt-4o', messages, stream: true, stream_options: { include_usage: true },
    }));
    assert.equal(r.content, 'Hello from az t3 t4');
    assert.equal(r.chunks, 7, 'the prompt-filter event, five chunks and the usage chunk');
    assert.ok(r.usage?.total_tokens > 0);
  }],

  ["the SDK's stream helper assembles a tool call from Azure's stream", async () => {
    const runner = client.chat.completions.stream({ model: 'gpt-4o', messages, tools }, toolCalls);
    const final = await runner.finalChatCompletion();
    const call = final.choices[0].message.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
  }],

  ["one answer assembled from Azure's stream (--stream-mode stream)", async () => {
    const c = await client.chat.completions.create({ model: 'conv-4o', messages });
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.model, 'gpt-4o-2024-08-06');
    assert.ok(c.id.length > 0, 'the id of the chunks, not the blank of the first event');
    assert.equal(c.choices[0].message.content, 'Hello from az t3 t4');
  }],

  ['embeddings from an Azure deployment', async () => {
    const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
    assert.equal(e.data.length, 1);
    assert.equal(e.data[0].embedding.length, 8);
  }],

  ["Azure's content filter is a BadRequestError with code content_filter", async () => {
    const err = await expectError(
      () => client.chat.completions.create({
        model: 'gpt-4o', messages: [{ role: 'user', content: 'FILTER_ME' }],
      }),
      OpenAI.BadRequestError, 400);
    assert.equal(err.code, 'content_filter');
    assert.equal(err.param, 'prompt');
    assert.equal(err.type, 'invalid_request_error');
  }],

  ['a model Azure has no deployment for is a NotFoundError', async () => {
    const err = await expectError(
      () => client.chat.completions.create({ model: 'gpt-4o-mini', messages }),
      OpenAI.NotFoundError, 404);
    assert.equal(err.code, 'DeploymentNotFound');
  }],

  // Last: Azure's Retry-After cools the upstream for a second.
  ["Azure's rate limit is a RateLimitError", async () => {
    const err = await expectError(
      () => client.chat.completions.create(
        { model: 'gpt-4o', messages }, { headers: { 'x-fake-status': '429' } }),
      OpenAI.RateLimitError, 429);
    assert.equal(err.code, 'rate_limit_exceeded');
  }],
];

await runChecks(checks);
