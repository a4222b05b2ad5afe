// The OpenAI-compatible provider: the client's request goes upstream as it came, under the
// upstream's base path, with fwd's hop-by-hop and credential rules applied to its header fields.
// Also the Provider defaults and the head fields every provider sends.
#include <boost/beast/http/verb.hpp>
#include <charconv>

#include "dataplane/config/compiled_config.h"
#include "dataplane/provider/provider.h"
#include "dataplane/proxy/client_request.h"
#include "dataplane/proxy/request_rules.h"
#include "dataplane/proxy/upstream_head.h"

namespace fwd::dataplane::provider {
namespace {

namespace http = boost::beast::http;

class OpenAiCompatible final : public Provider {
 public:
  std::string_view name() const override { return "openai"; }

  // Written by hand into a buffer the connection reuses: Beast's message + serializer would
  // allocate one node per header and walk them through buffer views.
  void writeRequestHead(const OutgoingRequest& r, const config::UpstreamTarget& t,
                        std::string& out) const override {
    out.clear();
    out.append(r.client.methodString()).append(" ").append(t.base_path).append(r.target_rest);
    out.append(" HTTP/1.1\r\n");
    appendHeadFields(r, t, out);
  }
};

}  // namespace

std::string Provider::probeTarget(const config::UpstreamTarget& upstream,
                                  std::string_view path) const {
  return upstream.base_path + std::string(path);
}

proxy::ApiError Provider::errorAnswer(int status, std::string_view body) const {
  return openAiErrorFrom(status, body, name());
}

Translation Provider::translateRequest(std::string_view, std::string_view, std::string&) const {
  return Translation{};
}

std::unique_ptr<AnswerTranslator> Provider::answerTranslator(bool, std::string_view, bool) const {
  return nullptr;
}

void appendHeadFields(const OutgoingRequest& r, const config::UpstreamTarget& t, std::string& out) {
  const proxy::ClientRequestParser& req = r.client;
  const bool hop_by_hop_named = req.connectionNamesFields();
  for (const auto& field : req.fields()) {
    std::string_view name = req.nameOf(field);
    if (!proxy::isDroppedRequestField(field.name, name) &&
        !(hop_by_hop_named && req.namedInConnection(name))) {
      proxy::appendField(out, name, req.valueOf(field));
    }
  }
  if (!r.forwarded_for.empty()) {
    proxy::appendField(out, "X-Forwarded-For", r.forwarded_for);
  }
  proxy::appendField(out, "Host", t.host_header);
  if (!t.credential.empty()) {
    proxy::appendField(out, t.credential_field, t.credential);
  }
  bool body_method = req.method() == http::verb::post || req.method() == http::verb::put ||
                     req.method() == http::verb::patch;
  if (!r.body.empty() || body_method) {
    char len[24];
    auto [end, ec] = std::to_chars(len, len + sizeof len, r.body.size());
    proxy::appendField(out, "Content-Length",
                       std::string_view(len, static_cast<size_t>(end - len)));
  }
  out.append("\r\n");
}

std::shared_ptr<const Provider> openAiCompatible() {
  static const std::shared_ptr<const Provider> provider = std::make_shared<OpenAiCompatible>();
  return provider;
}

}  // namespace fwd::dataplane::provider
