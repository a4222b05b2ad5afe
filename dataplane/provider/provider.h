// The seam between fwd's attempt loop and an upstream's API: how the request an upstream gets is
// built from the client's, how fwd's own GETs (health checks, model lists) reach it, and how its
// error answers read. OpenAI-compatible upstreams (OpenAI, vLLM, Ollama, DashScope's compatible
// mode, ...) take the client's request as it is; Azure OpenAI takes it under its deployment paths
// with an `api-key`. Each upstream's compiled target holds its provider (with the provider's
// options); the attempt loop only calls this interface. Implementations are immutable and shared
// by every worker.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataplane/proxy/errors.h"

namespace fwd::dataplane::proxy {
class ClientRequestParser;
}
namespace fwd::dataplane::config {
struct UpstreamTarget;
}

namespace fwd::dataplane::provider {

/// The client request as it is about to go upstream.
struct OutgoingRequest {
  const proxy::ClientRequestParser& client;  // method and header fields
  std::string_view target_rest;              // the path after "/v1", query included
  std::string_view body;                     // after any edits
  std::string_view forwarded_for;            // the X-Forwarded-For value to send; may be empty
  // The model as it goes upstream (after a route's rewrite); for a body without one, the path
  // ("/v1/audio/transcriptions"), with `has_model` false.
  std::string_view model;
  bool has_model = false;
  bool upstream_stream = false;  // the body sent asks for a stream (after any translation)
  // The attempt's first-byte timeout (a provider that lets the upstream hold the answer back
  // keeps within it).
  std::chrono::milliseconds first_byte{0};
};

/// A request body translated into the provider's API (translateRequest).
struct Translation {
  std::optional<proxy::ApiError> error;  // the request cannot be expressed: the client's answer
  bool stream = false;                   // the client's body (as edited) asked for a stream
  bool include_usage = false;            // ... and for the usage chunk
  // Set by the follow-ups (NextStep::usage_url): where a stream's usage is read once it ended.
  std::string usage_url;
};

/// Where a follow-up request goes (followUpTarget): a URL an upstream's answer named.
struct FollowUpTarget {
  bool tls = false;
  std::string host;         // without brackets
  std::string port;         // decimal
  std::string host_header;  // "host" or "host:port"
  std::string target;       // path and query, as the URL had them
  std::string pool_key;     // as UpstreamTarget::pool_key: connections to it are interchangeable
};

/// What fwd does after a 2xx answer of a provider that follows up (Provider::followsUp), read
/// whole: answer it, GET a URL it named (after `delay`), or fail.
struct NextStep {
  enum class Kind { kAnswer, kFetch, kFail };
  Kind kind = Kind::kAnswer;
  // kFetch: the absolute URL; `event_stream`: its answer is the client's stream (relayed through
  // the answer translator), else it is read whole and handed to nextStep again.
  std::string url;
  std::chrono::milliseconds delay{0};
  bool event_stream = false;
  std::string usage_url;  // kFetch of a stream: where its usage is read once it ended
  // kFetch: POSTing here stops the work fwd waits for, should fwd stop waiting (the client left,
  // the attempt's deadline passed, the stream broke): a prediction left running costs its owner.
  std::string cancel_url;
  // kFail: below 500 the client's answer, else a failed attempt (the next upstream is tried).
  proxy::ApiError error;
};

/// Rewrites a provider's 2xx answer into OpenAI's shape as it arrives: a JSON answer once it is
/// whole, a stream event by event. Per attempt, on the worker's thread.
class AnswerTranslator {
 public:
  virtual ~AnswerTranslator() = default;
  /// The next bytes of the upstream's answer payload (no chunk framing).
  virtual void feed(std::string_view payload) = 0;
  /// The upstream's answer is whole; its last translated bytes go to out(). An error when a JSON
  /// answer cannot be translated (what the caller treats as a failed attempt).
  virtual std::optional<proxy::ApiError> finish() = 0;
  /// Whether the translated answer is a stream, for an upstream answer that is one (`upstream_sse`)
  /// or not: a provider may answer a stream request with JSON (Replicate, for a model that cannot
  /// stream), which the translator then sends as a stream.
  virtual bool eventStream(bool upstream_sse) const { return upstream_sse; }
  /// Before finish(): the stream ended without the usage, which the answer of a GET of
  /// Translation::usage_url tells (usageFrom).
  virtual bool wantsUsage() const { return false; }
  virtual void usageFrom(std::string_view /*answer*/) {}
  /// OpenAI-shaped bytes for the client; the caller clears it once written.
  std::string& out() { return out_; }
  /// After finish(): {"usage":{...}} in OpenAI's shape when the upstream reported usage that the
  /// client's answer does not carry (a stream whose client asked for no usage chunk), for
  /// records and limits to read; else empty.
  virtual std::string unsentUsage() const { return ""; }

 protected:
  std::string out_;
};

// fwd::dataplane::provider::Provider
class Provider {
 public:
  virtual ~Provider() = default;

  /// The name operators see (fwdctl --provider, logs).
  virtual std::string_view name() const = 0;

  /// Writes the HTTP/1.1 request head for `upstream` into `out` (cleared first); `r.body`
  /// follows it unchanged. Worker thread; allocates nothing once `out` has grown to size.
  virtual void writeRequestHead(const OutgoingRequest& r, const config::UpstreamTarget& upstream,
                                std::string& out) const = 0;

  /// The request target of fwd's own GET of `path` ("/models", a health check's path).
  virtual std::string probeTarget(const config::UpstreamTarget& upstream,
                                  std::string_view path) const;

  /// Whether GET <probeTarget("/models")> lists the models the upstream serves by the names
  /// clients use (the model catalog reads it). Azure's lists the resource's base models, not its
  /// deployments.
  virtual bool listsModels() const { return true; }

  /// Whether an error answer below 500 is rewritten (errorAnswer) instead of relayed as it came.
  virtual bool rewritesErrors() const { return false; }

  /// The client's answer for an upstream error answer `status` (400..499) with (the start of)
  /// `body`: an OpenAI error object. Called only when rewritesErrors().
  virtual proxy::ApiError errorAnswer(int status, std::string_view body) const;

  /// Whether requests are translated into another API (translateRequest, answerTranslator).
  virtual bool translates() const { return false; }

  /// Writes the upstream's body for the OpenAI request `body` (edits applied) to `api_path`
  /// ("/v1/chat/completions") into `out`. Called only when translates().
  virtual Translation translateRequest(std::string_view api_path, std::string_view body,
                                       std::string& out) const;

  /// The translator of a 2xx answer (`sse`: a stream) to a request that asked for `model`;
  /// `include_usage`: the usage chunk was asked for; `stream_asked`: the body sent upstream asked
  /// for a stream. Called only when translates().
  virtual std::unique_ptr<AnswerTranslator> answerTranslator(bool sse, std::string_view model,
                                                             bool include_usage,
                                                             bool stream_asked) const;

  /// Whether a 2xx answer is followed up (nextStep) before anything is relayed.
  virtual bool followsUp() const { return false; }

  /// The provider's own domain, whose hosts its follow-up URLs may name (followUpTarget); empty:
  /// only the upstream's host.
  virtual std::string_view followUpDomain() const { return ""; }

  /// What comes after the 2xx answer `answer` (read whole) to a request translated as
  /// `translation`. Called only when followsUp().
  virtual NextStep nextStep(std::string_view answer, const Translation& translation) const;
};

/// The head of fwd's own bodiless `method` request to a follow-up URL (`out` cleared first): the
/// request line, Host, the credential field (none when `credential` is empty), Accept
/// (text/event-stream for a stream, with Cache-Control: no-store, else JSON) and, for a POST,
/// Content-Length: 0 and Connection: close.
void writeFollowUpHead(std::string_view method, const FollowUpTarget& to, bool event_stream,
                       std::string_view credential_field, std::string_view credential,
                       std::string& out);

/// Where `url`, named in an answer of `upstream`, may be fetched: an absolute http(s) URL with
/// the upstream's scheme, to the upstream's host, or — when the upstream's host is under the
/// provider's `home_domain` (Provider::followUpDomain) — to another host under it
/// (api.replicate.com -> stream.replicate.com). nullopt, with `why`, otherwise: fwd sends the
/// upstream's credential there.
std::optional<FollowUpTarget> followUpTarget(const config::UpstreamTarget& upstream,
                                             std::string_view url, std::string_view home_domain,
                                             std::string& why);

/// Appends the request head's fields after its request line: the client's fields except
/// hop-by-hop and credentials, X-Forwarded-For, Host, the upstream's credential field and
/// Content-Length; then the blank line.
void appendHeadFields(const OutgoingRequest& r, const config::UpstreamTarget& upstream,
                      std::string& out);

/// The OpenAI-compatible provider: the default of every upstream.
std::shared_ptr<const Provider> openAiCompatible();

/// Azure OpenAI's options, as the control plane validated them.
struct AzureOptions {
  std::string api_version;  // empty: none sent (the v1 API only)
  // model -> deployment (classic API), sorted by model for lookup.
  std::vector<std::pair<std::string, std::string>> deployments;
};

/// Azure OpenAI: the classic API (deployment paths and api-version) or, for a base path ending in
/// "/openai/v1", the v1 API; `api-key` instead of a bearer token; Azure's error bodies answered
/// as OpenAI's.
std::shared_ptr<const Provider> azure(AzureOptions options, std::string_view base_path);

/// DashScope's native API (Alibaba Cloud Model Studio): chat completions translated to
/// text-generation requests and back, streams through X-DashScope-SSE with incremental output.
std::shared_ptr<const Provider> dashscope();

/// Replicate's options, as the control plane validated them.
struct ReplicateOptions {
  // model -> prompt template name ("*": every other model's).
  std::vector<std::pair<std::string, std::string>> prompt_templates;
};

/// Replicate's predictions API: chat completions as predictions of the prompt rendered with each
/// model's template, followed (polled or streamed) until done.
std::shared_ptr<const Provider> replicate(ReplicateOptions options);

/// An error answer's body as OpenAI's error object reads: message, type, code and param from
/// {"error": {...}} (or {"message": ...} as Azure's gateway writes it); the type from the status
/// when the body names none. For upstreams whose error answers are not OpenAI's.
proxy::ApiError openAiErrorFrom(int status, std::string_view body, std::string_view upstream_api);

/// OpenAI's error type for an error status: invalid_request_error, authentication_error (401),
/// permission_error (403), not_found_error (404), requests (429).
std::string_view openAiErrorType(int status);

}  // namespace fwd::dataplane::provider
