#include "dataplane/proxy/client_request.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <string>

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

}  // namespace
}  // namespace fwd::dataplane::proxy
