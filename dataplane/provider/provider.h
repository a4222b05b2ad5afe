// The seam between fwd's attempt loop and an upstream's API: how the request an upstream gets is
// built from the client's. OpenAI-compatible upstreams (OpenAI, vLLM, Ollama, DashScope's
// compatible mode, ...) take the client's request as it is; other providers (Azure's deployment
// paths, Anthropic's Messages API) translate it. Each upstream names its provider in the snapshot;
// the attempt loop only calls this interface. Implementations are stateless and shared by every
// worker.
#pragma once

#include <string>
#include <string_view>

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
};

// fwd::dataplane::provider::Provider
class Provider {
 public:
  virtual ~Provider() = default;

  /// The name operators see (snapshot, metrics, errors).
  virtual std::string_view name() const = 0;

  /// Writes the HTTP/1.1 request head for `upstream` into `out` (cleared first); `r.body`
  /// follows it unchanged. Worker thread; allocates nothing once `out` has grown to size.
  virtual void writeRequestHead(const OutgoingRequest& r, const config::UpstreamTarget& upstream,
                                std::string& out) const = 0;
};

/// The OpenAI-compatible provider: the default of every upstream.
const Provider& openAiCompatible();

}  // namespace fwd::dataplane::provider
