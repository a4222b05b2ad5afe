// The OpenAI-compatible provider: the client's request goes upstream as it came, under the
// upstream's base path, with fwd's hop-by-hop and credential rules applied to its header fields.
// Also the Provider defaults and the head fields every provider sends.
#include <boost/beast/http/verb.hpp>
#include <boost/url.hpp>
#include <cctype>
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

std::unique_ptr<AnswerTranslator> Provider::answerTranslator(bool, std::string_view, bool,
                                                             bool) const {
  return nullptr;
}

NextStep Provider::nextStep(std::string_view, const Translation&) const { return NextStep{}; }

void writeFollowUpHead(std::string_view method, const FollowUpTarget& to, bool event_stream,
                       std::string_view credential_field, std::string_view credential,
                       std::string& out) {
  out.clear();
  out.append(method).append(" ").append(to.target).append(" HTTP/1.1\r\n");
  proxy::appendField(out, "Host", to.host_header);
  if (!credential.empty()) {
    proxy::appendField(out, credential_field, credential);
  }
  proxy::appendField(out, "Accept", event_stream ? "text/event-stream" : "application/json");
  if (event_stream) {
    proxy::appendField(out, "Cache-Control", "no-store");
  }
  if (method == "POST") {
    proxy::appendField(out, "Content-Length", "0");
    proxy::appendField(out, "Connection", "close");
  }
  out.append("\r\n");
}

std::optional<FollowUpTarget> followUpTarget(const config::UpstreamTarget& t, std::string_view url,
                                             std::string_view home_domain, std::string& why) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    why = "a follow-up URL is not an absolute URL: " + std::string(url.substr(0, 200));
    return std::nullopt;
  }
  const boost::urls::url_view& u = *parsed;
  const std::string_view scheme = t.tls ? "https" : "http";
  if (u.scheme() != scheme || u.host_type() == boost::urls::host_type::none) {
    why = "a follow-up URL must be " + std::string(scheme) +
          "://, as the upstream's: " + std::string(url.substr(0, 200));
    return std::nullopt;
  }
  FollowUpTarget to;
  to.tls = t.tls;
  to.host = u.host_type() == boost::urls::host_type::ipv6 ? std::string(u.host_address())
                                                          : std::string(u.encoded_host());
  for (char& c : to.host) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  // Only the upstream's host, or a host of the provider's own domain when the upstream is one of
  // them: fwd sends the upstream's credential there.
  auto inHome = [&](std::string_view host) {
    return !home_domain.empty() &&
           (host == home_domain ||
            (host.size() > home_domain.size() && host.ends_with(home_domain) &&
             host[host.size() - home_domain.size() - 1] == '.'));
  };
  const bool allowed = to.host == t.host || (inHome(t.host) && inHome(to.host));
  if (!allowed) {
    why = "a follow-up URL goes to " + to.host + ", not to " + t.host +
          (inHome(t.host) ? " or a host of " + std::string(home_domain) : std::string());
    return std::nullopt;
  }
  const std::string default_port = t.tls ? "443" : "80";
  to.port = u.has_port() ? std::string(u.port()) : default_port;
  std::string host_for_header =
      u.host_type() == boost::urls::host_type::ipv6 ? "[" + to.host + "]" : to.host;
  to.host_header = to.port == default_port ? host_for_header : host_for_header + ":" + to.port;
  to.target = std::string(u.encoded_path().empty() ? "/" : u.encoded_path());
  if (u.has_query()) {
    to.target += "?" + std::string(u.encoded_query());
  }
  to.pool_key =
      std::string(scheme) + "://" + to.host_header + (t.insecure_skip_verify ? "#insecure" : "");
  return to;
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
