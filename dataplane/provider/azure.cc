// Azure OpenAI. The classic API puts the deployment in the path and wants an api-version:
//   POST /v1/chat/completions {"model":"gpt-4o"}  ->
//   POST <base>/openai/deployments/<deployment>/chat/completions?api-version=<v>
// where the deployment is the operator's map entry for the model, or the model's own name; the
// endpoints that are not per deployment (files, batches, responses, ...) go to
// <base>/openai/<rest>?api-version=<v>. The v1 API (base URL ending in "/openai/v1") takes
// requests as OpenAI does, the model naming the deployment. Both take `api-key: <key>`, and both
// answer errors in shapes of their own ({"error":{"code":"DeploymentNotFound",...}} without a
// type, {"statusCode":401,"message":...} from the gateway), rewritten here as OpenAI's.
#include <algorithm>
#include <array>

#include "dataplane/config/compiled_config.h"
#include "dataplane/provider/provider.h"
#include "dataplane/proxy/client_request.h"

namespace fwd::dataplane::provider {
namespace {

// The classic API's endpoints under /openai/deployments/<deployment>.
constexpr std::array<std::string_view, 8> kDeploymentEndpoints = {
    "/chat/completions",   "/completions",  "/embeddings",         "/audio/transcriptions",
    "/audio/translations", "/audio/speech", "/images/generations", "/images/edits"};

bool unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// A path segment from a client's model name: anything but unreserved characters
// percent-encoded (so no '/', space or CR/LF reaches the request line).
void appendSegment(std::string& out, std::string_view s) {
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    if (unreserved(c)) {
      out += c;
    } else {
      auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
}

// The client's query without its api-version (fwd sends the upstream's), then api-version.
void appendQuery(std::string& out, std::string_view query, std::string_view api_version) {
  char sep = '?';
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty() || param == "api-version" || param.starts_with("api-version=")) {
      continue;
    }
    out += sep;
    out.append(param);
    sep = '&';
  }
  if (!api_version.empty()) {
    out += sep;
    out.append("api-version=").append(api_version);
  }
}

class Azure final : public Provider {
 public:
  Azure(AzureOptions options, std::string_view base_path) : options_(std::move(options)) {
    std::sort(options_.deployments.begin(), options_.deployments.end());
    v1_ = base_path.ends_with("/openai/v1");
    std::string_view prefix = base_path;
    if (prefix.ends_with("/openai")) {
      prefix.remove_suffix(7);
    }
    classic_root_ = std::string(prefix) + "/openai";
  }

  std::string_view name() const override { return "azure"; }

  void writeRequestHead(const OutgoingRequest& r, const config::UpstreamTarget& t,
                        std::string& out) const override {
    std::string_view rest = r.target_rest;
    size_t q = rest.find('?');
    std::string_view path = rest.substr(0, q);
    std::string_view query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
    out.clear();
    out.append(r.client.methodString()).append(" ");
    appendPath(out, t, path, r.model, r.has_model);
    appendQuery(out, query, options_.api_version);
    out.append(" HTTP/1.1\r\n");
    appendHeadFields(r, t, out);
  }

  std::string probeTarget(const config::UpstreamTarget& t, std::string_view path) const override {
    std::string out;
    appendPath(out, t, path, std::string_view(), false);
    appendQuery(out, std::string_view(), options_.api_version);
    return out;
  }

  bool listsModels() const override { return false; }
  bool rewritesErrors() const override { return true; }

  proxy::ApiError errorAnswer(int status, std::string_view body) const override {
    return openAiErrorFrom(status, body, "Azure OpenAI");
  }

 private:
  void appendPath(std::string& out, const config::UpstreamTarget& t, std::string_view path,
                  std::string_view model, bool has_model) const {
    if (v1_) {
      out.append(t.base_path).append(path);
      return;
    }
    out.append(classic_root_);
    if (std::find(kDeploymentEndpoints.begin(), kDeploymentEndpoints.end(), path) !=
        kDeploymentEndpoints.end()) {
      if (std::string_view deployment = deploymentOf(model, has_model); !deployment.empty()) {
        out.append("/deployments/");
        appendSegment(out, deployment);
      }
    }
    out.append(path);
  }

  // The operator's deployment for `model`; else the model's own name; else none.
  std::string_view deploymentOf(std::string_view model, bool has_model) const {
    auto it = std::lower_bound(options_.deployments.begin(), options_.deployments.end(), model,
                               [](const std::pair<std::string, std::string>& e,
                                  std::string_view m) { return e.first < m; });
    if (it != options_.deployments.end() && it->first == model) {
      return it->second;
    }
    return has_model ? model : std::string_view();
  }

  AzureOptions options_;
  bool v1_ = false;
  std::string classic_root_;  // the base path without a trailing "/openai", then "/openai"
};

}  // namespace

std::shared_ptr<const Provider> azure(AzureOptions options, std::string_view base_path) {
  return std::make_shared<Azure>(std::move(options), base_path);
}

}  // namespace fwd::dataplane::provider
