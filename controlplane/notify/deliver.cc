#include "controlplane/notify/deliver.h"

#include <google/protobuf/util/time_util.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace fwd::controlplane::notify {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Json = nlohmann::ordered_json;

std::string jsonText(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string rfc3339(std::int64_t ms) {
  return google::protobuf::util::TimeUtil::ToString(
      google::protobuf::util::TimeUtil::MillisecondsToTimestamp(ms));
}

/// Sends `request` to one of `addresses` and reads the status; exceptions for every failure.
asio::awaitable<int> exchange(const WebhookUrl& url,
                              const std::vector<common::net::IpAddress>& addresses,
                              const HttpRequest& request, std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  std::vector<tcp::endpoint> endpoints;
  for (const common::net::IpAddress& ip : addresses) {
    asio::ip::address_v6::bytes_type b;
    std::copy(ip.bytes.begin(), ip.bytes.end(), b.begin());
    asio::ip::address_v6 v6(b);
    endpoints.emplace_back(
        v6.is_v4_mapped() ? asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, v6))
                          : asio::ip::address(v6),
        url.port);
  }
  http::request<http::string_body> req(request.method == "PUT" ? http::verb::put : http::verb::post,
                                       request.target, 11);
  req.set(http::field::host, url.host);
  req.set(http::field::user_agent, "fwd-controlplane");
  req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : request.headers) {
    req.set(name, value);
  }
  req.body() = request.body;
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> response;
  response.body_limit(64 * 1024);  // the answer is not read; a receiver cannot make fwd hoard
  beast::tcp_stream tcp_stream(executor);
  tcp_stream.expires_after(timeout);
  co_await tcp_stream.async_connect(endpoints, asio::use_awaitable);
  if (!url.tls) {
    co_await http::async_write(tcp_stream, req, asio::use_awaitable);
    co_await http::async_read(tcp_stream, buffer, response, asio::use_awaitable);
    co_return response.get().result_int();
  }
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  tls.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
    throw std::runtime_error("cannot set the TLS server name");
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  co_await http::async_write(stream, req, asio::use_awaitable);
  co_await http::async_read(stream, buffer, response, asio::use_awaitable);
  co_return response.get().result_int();
}

}  // namespace

HttpRequest requestFor(const fwd::v1::Notifier& notifier, const WebhookUrl& url, const Message& m,
                       const std::string& txn_id) {
  HttpRequest out;
  out.method = "POST";
  out.target = url.target;
  const std::string text = "[fwd] " + m.text;
  if (notifier.kind() == "slack") {
    out.body = jsonText(Json{{"text", text}});
  } else if (notifier.kind() == "feishu") {
    out.body = jsonText(Json{{"msg_type", "text"}, {"content", Json{{"text", text}}}});
  } else if (notifier.kind() == "matrix") {
    // PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}
    out.method = "PUT";
    std::string path = url.target.substr(0, url.target.find('?'));
    std::string query =
        url.target.size() > path.size() ? url.target.substr(path.size()) : std::string();
    if (!path.empty() && path.back() == '/') {
      path.pop_back();
    }
    out.target = path + "/" + txn_id + query;
    out.headers.emplace_back("Authorization", "Bearer " + notifier.token());
    out.body = jsonText(Json{{"msgtype", "m.text"}, {"body", text}});
  } else {
    out.body = jsonText(Json{{"event", m.event},
                             {"text", m.text},
                             {"upstream", m.upstream},
                             {"key", m.key},
                             {"node", m.node},
                             {"count", m.count},
                             {"time", rfc3339(m.time_ms)},
                             {"notifier", notifier.name()}});
  }
  return out;
}

absl::StatusOr<int> deliver(const fwd::v1::Notifier& notifier, const Message& message,
                            const std::string& txn_id, std::chrono::milliseconds timeout) {
  absl::StatusOr<WebhookUrl> url = parseWebhookUrl(notifier.url());
  if (!url.ok()) {
    return absl::FailedPreconditionError(url.status().message());
  }
  absl::StatusOr<std::vector<common::net::IpAddress>> addresses =
      vetDestination(*url, notifier.allow_private_address());
  if (!addresses.ok()) {
    return addresses.status();
  }
  const HttpRequest request = requestFor(notifier, *url, message, txn_id);
  asio::io_context io;
  absl::StatusOr<int> result = absl::UnavailableError("no answer");
  asio::co_spawn(io, exchange(*url, *addresses, request, timeout),
                 [&](std::exception_ptr failed, int status) {
                   if (!failed) {
                     result = status;
                     return;
                   }
                   try {
                     std::rethrow_exception(failed);
                   } catch (const std::exception& e) {
                     result = absl::UnavailableError(
                         absl::StrCat("sending to ", redactedUrl(notifier.url()), ": ", e.what()));
                   }
                 });
  io.run();
  return result;
}

}  // namespace fwd::controlplane::notify
