// Fuzzes the client request parser (ClientRequestParser, with fwd's framing rules and head
// limits) the way a keep-alive connection drives it: messages back to back on one Storage, the
// bytes arriving in pieces of a size the first input byte picks. Checks that what it accepts is
// consistent: fields lie inside the parsed text, a refusal always stops the parser, a body
// matches its declared length, and the path checks never crash on the target.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/proxy/body_inspect.h"
#include "dataplane/proxy/client_request.h"
#include "dataplane/proxy/request_rules.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using fwd::dataplane::proxy::ClientRequestParser;
namespace http = boost::beast::http;

// Parses one message from the front of `in`, feeding it `step` bytes at a time. Returns false
// when the connection would end (an error, or input exhausted mid-message).
bool parseOne(ClientRequestParser::Storage& storage, std::string_view& in, size_t step) {
  ClientRequestParser parser(storage, 64);
  ClientRequestParser::HeadLimits limits;
  limits.max_request_line = 1024;
  limits.max_fields = 20;
  parser.headLimits(limits);
  parser.header_limit(4096);
  parser.body_limit(1 << 16);
  parser.eager(true);
  std::string pending;
  size_t offered = 0;
  while (!parser.is_done()) {
    boost::beast::error_code ec = http::error::need_more;
    if (!pending.empty()) {
      ec = {};
      size_t used = parser.put(boost::asio::buffer(pending), ec);
      FUZZ_CHECK(used <= pending.size());
      pending.erase(0, used);
      if (!ec && !parser.is_done() && (pending.empty() || used == 0)) {
        ec = http::error::need_more;
      }
    }
    if (ec == http::error::need_more) {
      FUZZ_CHECK(!parser.refusal());
      if (offered == in.size()) {
        return false;  // the peer stopped sending mid-message
      }
      size_t n = std::min(step, in.size() - offered);
      pending.append(in.substr(offered, n));
      offered += n;
    } else if (ec) {
      // A refusal always stops the parser, with a status fwd answers.
      FUZZ_CHECK(!parser.refusal() || parser.refusal()->status >= 400);
      return false;
    }
  }
  // Whatever was offered but not used belongs to the next message.
  in.remove_prefix(offered - pending.size());

  for (const auto& f : parser.fields()) {
    FUZZ_CHECK(std::size_t{f.name_at} + f.name_size <= storage.text.size());
    FUZZ_CHECK(std::size_t{f.value_at} + f.value_size <= storage.text.size());
    (void)parser.namedInConnection(parser.nameOf(f));
    (void)fwd::dataplane::proxy::isDroppedRequestField(f.name, parser.nameOf(f));
  }
  if (auto length = parser.content_length()) {
    FUZZ_CHECK(!parser.chunked());
    FUZZ_CHECK(parser.body().size() == *length);
  }
  std::string_view target = parser.target();
  std::string_view path = target.substr(0, target.find('?'));
  (void)fwd::dataplane::proxy::isSafePath(path);
  (void)fwd::dataplane::proxy::requiresModel(path);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  size_t step = 1 + data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  ClientRequestParser::Storage storage;
  for (int i = 0; i < 16 && !in.empty(); ++i) {
    if (!parseOne(storage, in, step)) {
      break;
    }
  }
  return 0;
}
