#include "dataplane/proxy/client_request.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <string>
#include <utility>

namespace fwd::dataplane::proxy {
namespace {

namespace http = boost::beast::http;

// Feeds the whole message; returns the parser's error, if any.
boost::beast::error_code feed(ClientRequestParser& parser, std::string_view message) {
  boost::beast::error_code ec;
  while (!message.empty() && !parser.is_done()) {
    size_t used = parser.put(boost::asio::buffer(message.data(), message.size()), ec);
    if (ec) {
      return ec;
    }
    message.remove_prefix(used);
  }
  return ec;
}

TEST(ClientRequestTest, KeepsFieldsInOrderAndFindsThemByCodeOrName) {
  // Names keep their case and order (they go upstream as sent); lookups ignore case.
  ClientRequestParser parser;
  ASSERT_FALSE(feed(parser,
                    "POST /v1/chat/completions?x=1 HTTP/1.1\r\n"
                    "Host: fwd\r\n"
                    "authorization: Bearer sk-1\r\n"
                    "API-Key: azure-key\r\n"
                    "X-Stainless-Lang: js\r\n"
                    "Content-Length: 2\r\n"
                    "\r\n"
                    "{}"));
  EXPECT_EQ(parser.method(), http::verb::post);
  EXPECT_EQ(parser.methodString(), "POST");
  EXPECT_EQ(parser.target(), "/v1/chat/completions?x=1");
  EXPECT_EQ(parser.field(http::field::authorization), "Bearer sk-1");
  EXPECT_EQ(parser.field("api-key"), "azure-key");
  EXPECT_EQ(parser.field(http::field::expect), "");
  ASSERT_EQ(parser.fields().size(), 5u);
  EXPECT_EQ(parser.nameOf(parser.fields()[2]), "API-Key");
  EXPECT_EQ(parser.fields()[2].name, http::field::unknown);
  EXPECT_EQ(parser.nameOf(parser.fields()[3]), "X-Stainless-Lang");
  EXPECT_EQ(parser.valueOf(parser.fields()[3]), "js");
  EXPECT_EQ(parser.body(), "{}");
  EXPECT_TRUE(parser.keep_alive());
}

TEST(ClientRequestTest, ReservesPaddingAfterADeclaredBodyAndReadsChunkedBodies) {
  // A sized body gets room for the JSON parser's padding up front; a chunked one is joined.
  ClientRequestParser sized(64);
  ASSERT_FALSE(feed(sized, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"));
  EXPECT_EQ(sized.body(), "hello");
  EXPECT_GE(sized.body().capacity(), 5u + 64u);

  ClientRequestParser chunked;
  ASSERT_FALSE(feed(chunked,
                    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n"));
  EXPECT_EQ(chunked.body(), "{\"a\":1}");
}

TEST(ClientRequestTest, BodyLimitAndResponsesAreRefused) {
  // A declared length over the limit fails at the head; a response is not a request.
  ClientRequestParser limited;
  limited.body_limit(4);
  EXPECT_EQ(feed(limited, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
            http::error::body_limit);
  ClientRequestParser response;
  EXPECT_TRUE(feed(response, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
}

TEST(ClientRequestTest, ParsersOnOneStorageSeeOnlyTheirOwnRequest) {
  // A keep-alive connection parses each request into the same Storage: the next request sees
  // none of the previous one's fields, target or body, and reuses its capacity; a body over
  // kKeptBodyCapacity is not held on to.
  ClientRequestParser::Storage storage;
  {
    ClientRequestParser first(storage, 0);
    ASSERT_FALSE(feed(first,
                      "POST /v1/embeddings HTTP/1.1\r\nauthorization: Bearer sk-1\r\n"
                      "x-a: 1\r\nx-b: 2\r\nContent-Length: 7\r\n\r\n{\"a\":1}"));
    EXPECT_EQ(first.fields().size(), 4u);
  }
  const size_t text_capacity = storage.text.capacity();
  const ClientRequestParser::Field* fields_at = storage.fields.data();
  {
    ClientRequestParser second(storage, 0);
    ASSERT_FALSE(feed(second, "GET /v1/models HTTP/1.1\r\nx-b: 3\r\n\r\n"));
    EXPECT_EQ(second.method(), http::verb::get);
    EXPECT_EQ(second.target(), "/v1/models");
    ASSERT_EQ(second.fields().size(), 1u);
    EXPECT_EQ(second.valueOf(second.fields()[0]), "3");
    EXPECT_EQ(second.field(http::field::authorization), "");
    EXPECT_EQ(second.field("x-a"), "");
    EXPECT_EQ(second.body(), "");
  }
  EXPECT_EQ(storage.text.capacity(), text_capacity);
  EXPECT_EQ(storage.fields.data(), fields_at);

  const std::string big(ClientRequestParser::kKeptBodyCapacity + 1, 'x');
  {
    ClientRequestParser third(storage, 0);
    ASSERT_FALSE(feed(third, "POST / HTTP/1.1\r\nContent-Length: " + std::to_string(big.size()) +
                                 "\r\n\r\n" + big));
    EXPECT_EQ(third.body(), big);
  }
  ClientRequestParser fourth(storage, 0);
  EXPECT_LE(storage.body.capacity(), ClientRequestParser::kKeptBodyCapacity);
}

// The status and code a head is refused with, or {0, ""} when it parses.
std::pair<int, std::string> refusalOf(std::string_view message,
                                      ClientRequestParser::HeadLimits limits = {}) {
  ClientRequestParser parser;
  parser.headLimits(limits);
  boost::beast::error_code ec = feed(parser, message);
  if (const auto& r = parser.refusal()) {
    EXPECT_TRUE(ec) << message;
    return {r->status, std::string(r->code)};
  }
  return {ec ? -1 : 0, ec ? ec.message() : ""};
}

TEST(ClientRequestTest, TransferEncodingOtherThanALoneChunkedIsRefused) {
  // RFC 9112 §6.1: a coding fwd does not decode, or whose last coding is not chunked, would
  // leave the body to be read as the next request (smuggling): 400, never "no body".
  const std::pair<int, std::string> refused{400, "bad_request"};
  for (const char* te : {"chunkedx", "chunked, gzip", "gzip, chunked", "gzip", "identity",
                         "chunked,", "x-chunked", "chunked;q=1"}) {
    EXPECT_EQ(
        refusalOf(std::string("POST / HTTP/1.1\r\nTransfer-Encoding: ") + te + "\r\n\r\n0\r\n\r\n"),
        refused)
        << te;
  }
  // Two fields, gzip first: refused at the first.
  EXPECT_EQ(refusalOf("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            refused);
  // HTTP/1.0 has no Transfer-Encoding (§6.1): its framing is faulty even with chunked.
  EXPECT_EQ(refusalOf("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), refused);
  // What stays legal: chunked in any case, with spaces around it.
  EXPECT_EQ(refusalOf("POST / HTTP/1.1\r\nTransfer-Encoding:  CHUNKED \r\n\r\n0\r\n\r\n").first, 0);
}

TEST(ClientRequestTest, ConflictingOrOddContentLengthIsRefused) {
  // §6.3: Content-Length with Transfer-Encoding (either order), several Content-Length values
  // (equal or not, in one field or two), and anything but digits end the connection with a 400.
  for (const char* head : {
           "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
           "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
           "Content-Length: 5\r\nContent-Length: 5\r\n",
           "Content-Length: 5\r\nContent-Length: 6\r\n",
           "Content-Length: 5, 5\r\n",
           "Content-Length: +5\r\n",
           "Content-Length: -1\r\n",
           "Content-Length: 0x5\r\n",
           "Content-Length: 5 5\r\n",
           "Content-Length: \r\n",
           "Content-Length: 99999999999999999999999\r\n",
       }) {
    auto [status, why] = refusalOf(std::string("POST / HTTP/1.1\r\n") + head + "\r\nhello");
    EXPECT_TRUE(status == 400 || status == -1) << head << ": " << status << " " << why;
  }
  EXPECT_EQ(refusalOf("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").first, 0);
  EXPECT_EQ(refusalOf("POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello").first, 0);
}

TEST(ClientRequestTest, HeadsThatAreNotQuiteHttpAreRefused) {
  // Bare LF line ends, a space before the colon, and a field name with a control character
  // fail to parse: no lenient reading another hop might read differently.
  for (const char* message : {
           "POST / HTTP/1.1\nContent-Length: 5\n\nhello",
           "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello",
           "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
           "POST / HTTP/1.1\r\nX\x01Y: 1\r\n\r\n",
           "POST / HTTP/2.0\r\n\r\n",
       }) {
    EXPECT_NE(refusalOf(message).first, 0) << message;
  }
}

TEST(ClientRequestTest, FieldsNamedInConnectionAreKnown) {
  // RFC 9110 §7.6.1: the options of every Connection field name hop-by-hop fields; "close" and
  // "keep-alive" alone name none.
  ClientRequestParser plain;
  ASSERT_FALSE(feed(plain, "GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n"));
  EXPECT_FALSE(plain.connectionNamesFields());

  ClientRequestParser named;
  ASSERT_FALSE(feed(named,
                    "GET / HTTP/1.1\r\nConnection: keep-alive,X-Secret-Hop\r\n"
                    "X-Secret-Hop: 1\r\nX-Other: 2\r\nconnection:  ,\tx-third , \r\n\r\n"));
  EXPECT_TRUE(named.connectionNamesFields());
  EXPECT_TRUE(named.namedInConnection("x-secret-hop"));
  EXPECT_TRUE(named.namedInConnection("X-Third"));
  EXPECT_FALSE(named.namedInConnection("x-other"));
  EXPECT_FALSE(named.namedInConnection("x-secret"));
}

TEST(ClientRequestTest, RequestLineAndFieldCountHaveLimits) {
  // A request line over its limit is a 414 and the 101st field a 431, as at the edge proxies.
  ClientRequestParser::HeadLimits limits;
  limits.max_request_line = 64;
  limits.max_fields = 3;
  const std::string target(51, 'a');  // "GET /" + target + " HTTP/1.1" is 65 bytes
  EXPECT_EQ(refusalOf("GET /" + target + " HTTP/1.1\r\n\r\n", limits),
            (std::pair<int, std::string>{414, "uri_too_long"}));
  EXPECT_EQ(refusalOf("GET /" + target.substr(1) + " HTTP/1.1\r\n\r\n", limits).first, 0);
  EXPECT_EQ(refusalOf("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n", limits).first, 0);
  EXPECT_EQ(refusalOf("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n", limits),
            (std::pair<int, std::string>{431, "request_header_too_large"}));
  // The defaults: 8 KiB and 100 fields.
  ClientRequestParser::HeadLimits defaults;
  EXPECT_EQ(defaults.max_request_line, 8192u);
  EXPECT_EQ(defaults.max_fields, 100u);
}

}  // namespace
}  // namespace fwd::dataplane::proxy
