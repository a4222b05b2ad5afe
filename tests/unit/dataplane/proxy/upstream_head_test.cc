#include "dataplane/proxy/upstream_head.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <string>

namespace fwd::dataplane::proxy {
namespace {

// Parses `head` (a whole response head) into `out`; returns the parser's error, if any.
boost::beast::error_code parseHead(UpstreamHeadParser& parser, std::string_view head) {
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  EXPECT_TRUE(ec || used == head.size());
  return ec;
}

TEST(UpstreamHeadTest, KeepsEndToEndFieldsAsSentAndDropsHopByHopOnes) {
  // Field names keep their case and order; connection-level fields and the upstream's framing
  // never reach the client; fwd's own framing and x-fwd-upstream end the head.
  std::string out;
  UpstreamHeadParser parser(out);
  ASSERT_FALSE(parseHead(parser,
                         "HTTP/1.1 200 OK\r\n"
                         "Content-Type: application/json\r\n"
                         "Connection: keep-alive\r\n"
                         "Keep-Alive: timeout=5\r\n"
                         "x-request-id: req-1\r\n"
                         "Content-Length: 17\r\n"
                         "OpenAI-Processing-Ms: 12\r\n"
                         "Upgrade: h2c\r\n"
                         "\r\n"));
  EXPECT_EQ(parser.status(), 200u);
  EXPECT_FALSE(parser.eventStream());
  EXPECT_FALSE(parser.retryAfterSeconds());
  parser.finishHead("openai", false, 17, true);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/json\r\n"
            "x-request-id: req-1\r\n"
            "OpenAI-Processing-Ms: 12\r\n"
            "x-fwd-upstream: openai\r\n"
            "Content-Length: 17\r\n"
            "\r\n");
}

TEST(UpstreamHeadTest, RestatusReplacesTheStatusLineAndKeepsTheRealOneInAField) {
  // What errors-as-200 does to a relayed upstream error: "200 OK", x-fwd-status: 429, every
  // other field as it was.
  std::string out;
  UpstreamHeadParser parser(out);
  ASSERT_FALSE(parseHead(parser,
                         "HTTP/1.1 429 Too Many Requests\r\n"
                         "Content-Type: application/json\r\n"
                         "Content-Length: 2\r\n"
                         "\r\n"));
  parser.restatus(200);
  parser.finishHead("openai", false, 2, true);
  EXPECT_EQ(parser.status(), 429u);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/json\r\n"
            "x-fwd-status: 429\r\n"
            "x-fwd-upstream: openai\r\n"
            "Content-Length: 2\r\n"
            "\r\n");
}

TEST(UpstreamHeadTest, TheRequestIdIsFoundAfterTheStatusLineOrContentTypeChanged) {
  std::string out;
  UpstreamHeadParser parser(out);
  ASSERT_FALSE(parseHead(parser,
                         "HTTP/1.1 429 Too Many Requests\r\n"
                         "Content-Type: application/json\r\n"
                         "x-request-id: req-429\r\n"
                         "Content-Length: 2\r\n"
                         "\r\n"));
  parser.restatus(200);  // "200 OK" is shorter than "429 Too Many Requests"
  EXPECT_EQ(parser.requestId(), "req-429");
  parser.setContentType("text/event-stream");
  EXPECT_EQ(parser.requestId(), "req-429");
  parser.finishHead("u", true, std::nullopt, true);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\n"
            "x-request-id: req-429\r\n"
            "x-fwd-status: 429\r\n"
            "Content-Type: text/event-stream\r\n"
            "x-fwd-upstream: u\r\n"
            "Transfer-Encoding: chunked\r\n"
            "\r\n");
}

TEST(UpstreamHeadTest, AConvertedAnswerGetsItsOwnContentTypeEvenWhenTheUpstreamSentNone) {
  std::string out;
  UpstreamHeadParser parser(out);
  ASSERT_FALSE(parseHead(parser, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"));
  parser.setContentType("application/json");
  parser.setContentType("text/event-stream");  // the last one counts, once
  parser.finishHead("u", true, std::nullopt, true);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/event-stream\r\n"
            "x-fwd-upstream: u\r\n"
            "Transfer-Encoding: chunked\r\n"
            "\r\n");
}

TEST(UpstreamHeadTest, SeesEventStreamsRetryAfterAndChunkedFraming) {
  // An SSE head (any case) with a numeric Retry-After; fwd's chunked framing replaces the
  // upstream's, and Connection: close ends a client connection that will not be reused.
  std::string out;
  UpstreamHeadParser parser(out);
  ASSERT_FALSE(parseHead(parser,
                         "HTTP/1.1 429 Too Many Requests\r\n"
                         "content-type: Text/Event-Stream; charset=utf-8\r\n"
                         "retry-after: 30\r\n"
                         "transfer-encoding: chunked\r\n"
                         "\r\n"));
  EXPECT_EQ(parser.status(), 429u);
  EXPECT_TRUE(parser.eventStream());
  EXPECT_EQ(parser.retryAfterSeconds(), 30u);
  EXPECT_TRUE(parser.chunked());
  parser.finishHead("local", true, std::nullopt, false);
  EXPECT_EQ(out,
            "HTTP/1.1 429 Too Many Requests\r\n"
            "content-type: Text/Event-Stream; charset=utf-8\r\n"
            "retry-after: 30\r\n"
            "x-fwd-upstream: local\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(UpstreamHeadTest, MissingReasonGetsTheStandardOneAndDatesAreNotSeconds) {
  // "HTTP/1.1 503 " (no reason phrase) is relayed as 503 Service Unavailable; a Retry-After
  // given as an HTTP date is kept for the client but is not a number of seconds for fwd.
  std::string out = "left over from an earlier attempt";
  UpstreamHeadParser parser(out);
  ASSERT_FALSE(parseHead(parser,
                         "HTTP/1.1 503 \r\n"
                         "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
                         "Content-Length: 0\r\n"
                         "\r\n"));
  EXPECT_EQ(parser.status(), 503u);
  EXPECT_FALSE(parser.retryAfterSeconds());
  EXPECT_TRUE(parser.is_done());
  parser.finishHead("u", false, 0, true);
  EXPECT_EQ(out,
            "HTTP/1.1 503 Service Unavailable\r\n"
            "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
            "x-fwd-upstream: u\r\n"
            "Content-Length: 0\r\n"
            "\r\n");
}

TEST(UpstreamHeadTest, ARequestIsNotAResponse) {
  // Whatever an upstream sends must parse as a response head.
  std::string out;
  UpstreamHeadParser parser(out);
  EXPECT_TRUE(parseHead(parser, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
}

TEST(UpstreamHeadTest, AStatusOutsideOneHundredToFiveNinetyNineIsMalformed) {
  // Found by fuzz_upstream_head: Beast takes any three digits, and "029" went to the client as
  // "HTTP/1.1 29", a status line no client parses. Such a head is now a failed attempt.
  for (const char* line : {"HTTP/1.1 029 Odd\r\n", "HTTP/1.1 000 Zero\r\n",
                           "HTTP/1.1 600 Beyond\r\n", "HTTP/1.1 999 Far\r\n"}) {
    std::string out;
    UpstreamHeadParser parser(out);
    EXPECT_TRUE(parseHead(parser, std::string(line) + "Content-Length: 0\r\n\r\n")) << line;
  }
  for (const char* line : {"HTTP/1.1 100 Continue\r\n", "HTTP/1.1 599 Edge\r\n"}) {
    std::string out;
    UpstreamHeadParser parser(out);
    EXPECT_FALSE(parseHead(parser, std::string(line) + "Content-Length: 0\r\n\r\n")) << line;
  }
}

TEST(UpstreamHeadTest, InterimHeadsAreFoundWholeOrAsIncomplete) {
  // 1xx heads at the start are skipped whole; a 101 or a final status stops the search; a head
  // that may still be interim asks for more bytes.
  const std::string final_head = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const std::string early = "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n";
  const std::string cont = "HTTP/1.0 100 Continue\r\n\r\n";
  InterimHeads none = interimHeads(final_head, 1024);
  EXPECT_EQ(none.bytes, 0u);
  EXPECT_FALSE(none.need_more);
  InterimHeads two = interimHeads(cont + early + final_head, 1024);
  EXPECT_EQ(two.bytes, cont.size() + early.size());
  EXPECT_FALSE(two.need_more);
  InterimHeads cut = interimHeads(cont + early.substr(0, 20), 1024);
  EXPECT_EQ(cut.bytes, cont.size());
  EXPECT_TRUE(cut.need_more);
  EXPECT_TRUE(interimHeads("HTTP/1.1 1", 1024).need_more);
  EXPECT_TRUE(interimHeads(cont, 1024).need_more);  // the answer is still to come
  EXPECT_EQ(interimHeads("HTTP/1.1 101 Switching Protocols\r\n\r\n", 1024).bytes, 0u);
  EXPECT_FALSE(interimHeads("HTTP/1.1 101 Switching Protocols\r\n\r\n", 1024).need_more);
  EXPECT_FALSE(interimHeads("HTTP/1.1 103 " + std::string(2000, 'x'), 1024).need_more);
}

}  // namespace
}  // namespace fwd::dataplane::proxy
