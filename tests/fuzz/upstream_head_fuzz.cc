// Fuzzes the upstream response head parser the way the relay drives it: bytes in pieces until
// the head is whole, then the head fwd writes to its client. That head must itself be one valid
// HTTP/1.1 response head with exactly one framing field of fwd's choosing: nothing an upstream
// sends may split it or smuggle a second framing field to the client.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/proxy/upstream_head.h"
#include "tests/fuzz/fuzz_check.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const size_t step = 1 + data[0];
  const bool chunked = (data[1] & 1) != 0;
  const bool keep_alive = (data[1] & 2) != 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  // Interim (1xx) heads in front are dropped, as the relay does.
  fwd::dataplane::proxy::InterimHeads interim = fwd::dataplane::proxy::interimHeads(in, 8192);
  FUZZ_CHECK(interim.bytes <= in.size());
  if (interim.need_more) {
    return 0;
  }
  in.remove_prefix(interim.bytes);

  std::string head;
  fwd::dataplane::proxy::UpstreamHeadParser parser(head);
  parser.header_limit(8192);
  parser.body_limit(~std::uint64_t{0});
  size_t parsed = 0;
  size_t offered = 0;
  boost::beast::error_code ec = http::error::need_more;
  while (ec == http::error::need_more && offered < in.size()) {
    offered = std::min(in.size(), offered + step);
    ec = {};
    parsed += parser.put(boost::asio::buffer(in.data() + parsed, offered - parsed), ec);
    FUZZ_CHECK(parsed <= offered);
  }
  if (ec || !parser.is_header_done()) {
    return 0;
  }
  std::optional<std::uint64_t> length;
  if (!chunked) {
    length = parser.content_length().value_or(0);
  }
  parser.finishHead("fuzz", chunked, length, keep_alive);

  // What the client gets parses back whole, with fwd's framing and nothing else.
  http::response_parser<http::empty_body> client;
  client.skip(true);
  boost::beast::error_code cec;
  size_t used = client.put(boost::asio::buffer(head), cec);
  FUZZ_CHECK(!cec);
  FUZZ_CHECK(client.is_header_done());
  FUZZ_CHECK(used == head.size());
  const auto& msg = client.get();
  FUZZ_CHECK(msg.result_int() == parser.status());
  size_t framing_fields = 0;
  for (const auto& field : msg) {
    framing_fields += field.name() == http::field::transfer_encoding ||
                      field.name() == http::field::content_length;
  }
  FUZZ_CHECK(framing_fields == 1);
  FUZZ_CHECK(msg.keep_alive() == keep_alive);
  return 0;
}
