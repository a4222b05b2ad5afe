// The fake upstream's knowledge of the OpenAI API: what it reads from a request body (model,
// stream, stream_options.include_usage, number of embedding inputs) and the OpenAI-shaped bodies
// it answers with. No IO here, so the server file stays the only Beast translation unit.
//
// Token accounting is fixed so tests can assert exact numbers: prompt_tokens is always
// kPromptTokens; completion_tokens is the number of generated tokens (3 for a non-streamed
// answer "Hello", " from", " <NAME>"; the chunk count for a stream).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fwd::fakes {

inline constexpr int kPromptTokens = 10;
inline constexpr int kDefaultChunks = 5;
/// Bytes of slack simdjson needs after the last byte of a body it reads.
inline constexpr std::size_t kJsonPadding = 64;

/// Fields of a JSON request body the fake acts on.
struct BodyInfo {
  bool json_ok = false;  // the body is a JSON object
  std::string model;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int inputs = 1;              // embeddings: elements of "input" when it is an array
  bool base64 = false;         // embeddings: "encoding_format": "base64" (the SDKs' default)
  int status_from_model = 0;   // N when model is "fake-status-N"
};

/// What POST /_fake/models changes at run time; a field absent from the body stays as it was.
struct ModelsControl {
  bool has_models = false;
  std::vector<std::string> models;
  bool has_status = false;
  int status = 0;  // non-zero: GET .../models answers this status (an error) instead
  bool has_stall_ms = false;
  int stall_ms = 0;  // GET .../models waits this long before its response head
};

/// Reads {"models":["a",...],"status":N,"stall_ms":N} (every field optional). False when the
/// body is not a JSON object of that shape or a number is out of range.
bool parseModelsControl(std::string& body, ModelsControl& out);

/// Reads the fields above without building a DOM. Grows `body`'s capacity (not its size) when
/// it lacks kJsonPadding bytes of slack, so callers that reserve up front never reallocate.
BodyInfo inspectBody(std::string& body);

/// Which OpenAI object a stream carries.
enum class StreamKind { kChat, kCompletion };

/// The i-th generated token: "Hello", " from", " <NAME>", then " t3", " t4", ...
void appendToken(std::string& out, int i, std::string_view name);

/// A JSON string literal (with quotes), escaping what JSON requires.
void appendJsonString(std::string& out, std::string_view s);
void appendInt(std::string& out, std::int64_t v);

/// chat.completion for a non-streamed chat request.
void appendChatCompletion(std::string& out, std::uint64_t id, std::string_view model,
                          std::string_view name);
/// text_completion for a non-streamed completions request.
void appendTextCompletion(std::string& out, std::uint64_t id, std::string_view model,
                          std::string_view name);
/// One stream event's JSON (without "data: "): token `index` of `count`; the last one carries
/// finish_reason "stop".
void appendStreamChunk(std::string& out, StreamKind kind, std::uint64_t id, std::string_view model,
                       std::string_view name, int index, int count);
/// A chat.completion whose message calls get_weather({"city":"Paris"}) (content null,
/// finish_reason "tool_calls"), as for x-fake-tool-calls.
void appendToolCallCompletion(std::string& out, std::uint64_t id, std::string_view model);
/// Chunk `index` of `count` of the same answer streamed: the call's id and name first, its
/// arguments in pieces, finish_reason "tool_calls" on the last.
void appendToolCallChunk(std::string& out, std::uint64_t id, std::string_view model, int index,
                         int count);
/// {"error":{...}}: an invalid_request_error with code context_length_exceeded, as an
/// upstream may put in a 200 answer or a stream event (x-fake-error-event).
void appendErrorObject(std::string& out);
/// The include_usage event: empty choices and usage for `count` generated tokens.
void appendUsageChunk(std::string& out, StreamKind kind, std::uint64_t id, std::string_view model,
                      int count);
/// {"object":"list","data":[{"object":"embedding","index":i,"embedding":[8 floats]}...],...};
/// with `base64` each embedding is the base64 of 8 little-endian float32, as OpenAI sends it.
void appendEmbeddings(std::string& out, std::string_view model, int inputs, bool base64);
/// Transcription answer that lets a test prove the multipart body arrived byte for byte.
void appendTranscription(std::string& out, std::string_view name, std::string_view body,
                         std::string_view content_type);
/// OpenAI model list.
void appendModelList(std::string& out, const std::vector<std::string>& models);
/// {"error":{"message","type","param":null,"code"}} with type/code chosen like OpenAI's.
void appendError(std::string& out, int status, std::string_view message);

/// Lower-case hex SHA-256.
std::string sha256Hex(std::string_view data);

}  // namespace fwd::fakes
