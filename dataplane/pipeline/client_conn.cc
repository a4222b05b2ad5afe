#include "dataplane/pipeline/client_conn.h"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <charconv>
#include <span>

namespace fwd::dataplane::pipeline {

namespace asio = boost::asio;
namespace http = boost::beast::http;

bool startClientWrite(ClientConn& client, ClientWrite& cw, std::string_view head,
                      std::string_view data, bool wrap_chunk, bool end_chunked) {
  cw.bufs[cw.n++] = asio::buffer(head.data(), head.size());
  if (wrap_chunk && !data.empty()) {
    char* line = cw.size_line;
    auto [end, ec] = std::to_chars(line, line + sizeof cw.size_line - 2, data.size(), 16);
    *end++ = '\r';
    *end++ = '\n';
    cw.bufs[cw.n++] = asio::buffer(line, static_cast<size_t>(end - line));
    cw.bufs[cw.n++] = asio::buffer(data.data(), data.size());
    cw.bufs[cw.n++] = asio::buffer("\r\n", 2);
  } else {
    cw.bufs[cw.n++] = asio::buffer(data.data(), data.size());
  }
  if (end_chunked) {
    cw.bufs[cw.n++] = asio::buffer("0\r\n\r\n", 5);
  }
  const std::span<const asio::const_buffer> all(cw.bufs.data(), cw.n);
  if (client.tls) {
    return false;  // TLS records are written by finishClientWrite
  }
  cw.written = sendNow(client.socket, all, cw.ec);
  return cw.ec || cw.written == asio::buffer_size(all);
}

Task<boost::system::error_code> finishClientWrite(WorkerContext& w, ClientConn& client,
                                                  ClientWrite& cw) {
  client.deadline.after(w.options.client_write_timeout);
  const std::span<const asio::const_buffer> all(cw.bufs.data(), cw.n);
  if (client.tls) {
    co_return co_await sendRest(*client.tls, all, cw.written);
  }
  co_return co_await sendRest(client.socket, all, cw.written);
}

Task<boost::system::error_code> writeToClient(WorkerContext& w, ClientConn& client,
                                              std::string_view head, std::string_view data,
                                              bool wrap_chunk, bool end_chunked) {
  ClientWrite cw;
  if (startClientWrite(client, cw, head, data, wrap_chunk, end_chunked)) {
    co_return cw.ec;
  }
  co_return co_await finishClientWrite(w, client, cw);
}

Task<bool> writeJson(WorkerContext& w, ClientConn& client, int status, const std::string& body,
                     bool keep_alive, int retry_after_seconds, int real_status,
                     std::string_view fields) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  if (retry_after_seconds > 0) {
    res.set(http::field::retry_after, std::to_string(retry_after_seconds));
  }
  if (real_status > 0) {
    res.set("x-fwd-status", std::to_string(real_status));
  }
  while (!fields.empty()) {
    size_t end = fields.find("\r\n");
    std::string_view line = fields.substr(0, end);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      res.insert(line.substr(0, colon), value);
    }
    fields.remove_prefix(end == std::string_view::npos ? fields.size() : end + 2);
  }
  res.keep_alive(keep_alive);
  res.body() = body;
  res.prepare_payload();
  client.deadline.after(w.options.client_write_timeout);
  auto [ec, n] = co_await writeMessage(client, res);
  co_return !ec;
}

}  // namespace fwd::dataplane::pipeline
