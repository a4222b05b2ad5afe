// Drives fwd's data plane with the official OpenAI Node SDK, the client most users run, to prove
// that what fwd returns is what the SDK expects: plain and streamed chat, embeddings, a multipart
// upload, the model list, and the SDK's error classes for 401, 404, 429 and 5xx.
//
//   FWD_BASE_URL=http://127.0.0.1:8000/v1 FWD_API_KEY=sk-fwd-... node sdk_test.mjs
//
// fwd must route the models below to a tests/fakes/fake_upstream ("Hello from <NAME>"), including
// models named fake-status-429 and fake-status-503 (the fake answers those statuses), and must
// not know "no-such-model"; GET /v1/models must list FWD_MODEL. Models can be changed with
// FWD_MODEL, FWD_EMBEDDING_MODEL and FWD_TRANSCRIPTION_MODEL.
//
// --upstream-only: point FWD_BASE_URL at fake_upstream itself (no fwd in between) to check this
// script. The fake has no keys and lists only its own --models, so the 401 and 404 checks then
// use models fake-status-401 and fake-status-404 instead of a wrong key and an unknown model,
// and the model check only reads the list.
//
// Prints one line per check and "N passed, N failed"; exits 1 when a check failed, 2 on usage.
import assert from 'node:assert/strict';
import process from 'node:process';

import OpenAI, { toFile } from 'openai';

import { expectError, runChecks } from './checks.mjs';

const upstreamOnly = process.argv.includes('--upstream-only');
const baseURL = process.env.FWD_BASE_URL;
const apiKey = process.env.FWD_API_KEY ?? (upstreamOnly ? 'sk-unused' : undefined);
if (!baseURL || !apiKey) {
  console.error('usage: FWD_BASE_URL=http://HOST:PORT/v1 FWD_API_KEY=KEY node sdk_test.mjs ' +
                '[--upstream-only]');
  process.exit(2);
}
const model = process.env.FWD_MODEL ?? 'gpt-4o-mini';
const embeddingModel = process.env.FWD_EMBEDDING_MODEL ?? 'text-embedding-3-small';
const transcriptionModel = process.env.FWD_TRANSCRIPTION_MODEL ?? 'whisper-1';

// No retries: each check must see fwd's first answer, not the SDK's retry of it.
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20_000 });
const messages = [{ role: 'user', content: 'Say hello.' }];

const checks = [
  ['chat completion', async () => {
    const completion = await client.chat.completions.create({ model, messages });
    const content = completion.choices[0]?.message?.content ?? '';
    assert.match(content, /Hello from/);
    assert.equal(completion.object, 'chat.completion');
    assert.ok(completion.usage.total_tokens > 0, 'usage.total_tokens > 0');
  }],

  ['streamed chat completion', async () => {
    const stream = await client.chat.completions.create({
      model, messages, stream: true, stream_options: { include_usage: true },
    });
    let chunks = 0;
    let text = '';
    let usage = null;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta?.content;
      if (delta) {
        chunks += 1;
        text += delta;
      }
      if (chunk.usage) {
        usage = chunk.usage;
      }
    }
    assert.ok(chunks >= 2, `expected at least 2 content chunks, got ${chunks}`);
    assert.match(text, /Hello from/);
    assert.ok(usage && usage.completion_tokens > 0, 'a usage chunk arrived');
  }],

  ['embeddings', async () => {
    const response = await client.embeddings.create({ model: embeddingModel, input: 'hello' });
    assert.equal(response.data.length, 1);
    assert.equal(response.data[0].embedding.length, 8);
    assert.ok(response.data[0].embedding.every(Number.isFinite), 'finite floats');
    const batch = await client.embeddings.create({
      model: embeddingModel, input: ['a', 'b', 'c'], encoding_format: 'float',
    });
    assert.deepEqual(batch.data.map((d) => d.index), [0, 1, 2]);
  }],

  ['multipart transcription upload', async () => {
    // Binary bytes (a WAV header and a fake "boundary") must cross fwd untouched.
    const audio = Buffer.concat([
      Buffer.from('RIFF\0\0\0\0WAVEfmt '), Buffer.from('\r\n--not-a-boundary\r\n'),
      Buffer.from([0, 1, 2, 253, 254, 255]),
    ]);
    const transcription = await client.audio.transcriptions.create({
      file: await toFile(audio, 'a.wav', { type: 'audio/wav' }),
      model: transcriptionModel,
    });
    assert.match(transcription.text, /transcribed by/);
    if (transcription.fake_received_bytes !== undefined) {
      assert.ok(transcription.fake_received_bytes > audio.length, 'whole multipart body arrived');
    }
  }],

  ['models list and retrieve', async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, 'model');
      ids.push(m.id);
    }
    if (upstreamOnly) {
      return;  // the fake lists its --models and has no GET /models/{id}
    }
    assert.ok(ids.includes(model), `${model} is listed (got ${ids.join(', ')})`);
    const one = await client.models.retrieve(model);
    assert.equal(one.id, model);
    assert.equal(typeof one.created, 'number');
    await expectError(() => client.models.retrieve('no-such-model'), OpenAI.NotFoundError, 404);
  }],

  ['wrong key is AuthenticationError (401)', async () => {
    if (upstreamOnly) {
      await expectError(() => client.chat.completions.create({ model: 'fake-status-401', messages }),
                        OpenAI.AuthenticationError, 401);
      return;
    }
    const stranger = new OpenAI({ baseURL, apiKey: 'sk-fwd-wrong-key', maxRetries: 0 });
    await expectError(() => stranger.chat.completions.create({ model, messages }),
                      OpenAI.AuthenticationError, 401);
  }],

  ['unknown model is NotFoundError (404)', async () => {
    const unknown = upstreamOnly ? 'fake-status-404' : 'no-such-model';
    await expectError(() => client.chat.completions.create({ model: unknown, messages }),
                      OpenAI.NotFoundError, 404);
  }],

  ['upstream 429 is RateLimitError', async () => {
    await expectError(() => client.chat.completions.create({ model: 'fake-status-429', messages }),
                      OpenAI.RateLimitError, 429);
  }],

  ['upstream 503 is InternalServerError (5xx)', async () => {
    const err = await expectError(
      () => client.chat.completions.create({ model: 'fake-status-503', messages }),
      OpenAI.InternalServerError);
    assert.ok(err.status >= 500 && err.status <= 599, `5xx status, got ${err.status}`);
  }],
];

await runChecks(checks);
