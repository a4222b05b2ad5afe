// Fuzzes ChunkedScanner as the relay drives it: an upstream's chunked body arriving in pieces,
// unconsumed bytes presented again with the next piece. Differential check: when the scanner
// says the body ended cleanly, what it forwarded (plus the last chunk fwd writes itself) is a
// chunked body Beast decodes to exactly the payload the scanner reported — so the client gets
// the same bytes fwd saw, framed soundly.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/proxy/chunked_scanner.h"
#include "tests/fuzz/fuzz_check.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const size_t step = 1 + data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  fwd::dataplane::proxy::ChunkedScanner scanner;
  std::string kept;  // presented but not consumed
  std::string forwarded;
  std::string payload;
  bool done = false;
  bool failed = false;
  for (size_t at = 0; at < in.size() && !done && !failed;) {
    size_t n = std::min(step, in.size() - at);
    std::string window = kept + std::string(in.substr(at, n));
    at += n;
    std::string seen;
    auto r = scanner.scan(window, [&](std::string_view d) { seen.append(d); });
    FUZZ_CHECK(r.forward <= r.consumed);
    FUZZ_CHECK(r.consumed <= window.size());
    forwarded.append(window, 0, r.forward);
    payload += seen;
    kept = window.substr(r.consumed);
    FUZZ_CHECK(kept.size() <= fwd::dataplane::proxy::ChunkedScanner::kMaxLineBytes +
                                  fwd::dataplane::proxy::ChunkedScanner::kMaxTrailerBytes + step);
    done = r.done;
    failed = r.error != nullptr;
  }
  if (!done || failed) {
    return 0;
  }
  FUZZ_CHECK(scanner.done());
  std::string message =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + forwarded + "0\r\n\r\n";
  http::response_parser<http::string_body> beast;
  beast.eager(true);
  beast.body_limit(~std::uint64_t{0});
  boost::beast::error_code ec;
  beast.put(boost::asio::buffer(message), ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(beast.is_done());
  FUZZ_CHECK(beast.get().body() == payload);
  return 0;
}
