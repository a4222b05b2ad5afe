#include "common/sse/sse_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fwd::common::sse {
namespace {

std::vector<Event> parseInPieces(std::string_view stream, size_t piece) {
  std::vector<Event> events;
  SseParser parser([&](const Event& e) { events.push_back(e); });
  for (size_t i = 0; i < stream.size(); i += piece) {
    EXPECT_TRUE(parser.feed(stream.substr(i, piece)));
  }
  return events;
}

TEST(SseParserTest, SplitsOpenAiStyleStreamAtAnyChunkBoundary) {
  // The same events come out whether the stream arrives whole or one byte at a time.
  const std::string stream =
      "data: {\"id\":1}\n\n"
      ": keep-alive\n\n"
      "event: delta\r\ndata: line1\r\ndata: line2\r\n\r\n"
      "id: 7\rdata:{\"id\":2}\r\r"
      "data: [DONE]\n\n";
  for (size_t piece :
       {stream.size(), size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{7}, size_t{11}}) {
    auto events = parseInPieces(stream, piece);
    ASSERT_EQ(events.size(), 4u) << "piece=" << piece;
    EXPECT_EQ(events[0].data, "{\"id\":1}");
    EXPECT_EQ(events[1].event, "delta");
    EXPECT_EQ(events[1].data, "line1\nline2");
    EXPECT_EQ(events[2].id, "7");
    EXPECT_EQ(events[2].data, "{\"id\":2}");
    EXPECT_EQ(events[3].data, "[DONE]");
    // Fields end with their event: nothing of event 2 or 3 leaks into the next one.
    EXPECT_EQ(events[2].event, "");
    EXPECT_EQ(events[3].id, "");
  }
}

TEST(SseParserTest, IncompleteTailIsHeldNotDispatched) {
  // An event is reported only once its blank line arrives.
  std::vector<Event> events;
  SseParser parser([&](const Event& e) { events.push_back(e); });
  parser.feed("data: partial");
  EXPECT_TRUE(events.empty());
  parser.feed("\n");
  EXPECT_TRUE(events.empty());
  parser.feed("\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "partial");
  EXPECT_EQ(parser.eventCount(), 1u);
}

TEST(SseParserTest, OversizedEventFailsInsteadOfGrowing) {
  // A stream that never ends a line cannot make the parser buffer without bound.
  SseParser parser([](const Event&) {}, 1024);
  std::string big(2048, 'x');
  EXPECT_FALSE(parser.feed("data: " + big));
  EXPECT_TRUE(parser.failed());
  EXPECT_FALSE(parser.feed("\n\n"));
}

TEST(SseParserTest, CountOnlyParserCountsTheSameEventsAndKeepsItsLimit) {
  // Without a callback (the proxy's case) the parser keeps no fields, yet counts exactly the
  // events a full parser reports, whatever the pieces, and still refuses an oversized event.
  const std::string stream =
      "data: {\"id\":1}\n\n"
      ": keep-alive\n\n"
      "event: delta\r\ndata: line1\r\ndata: line2\r\n\r\n"
      "event: no-data\n\n"
      "id: 7\rdata:{\"id\":2}\r\r"
      "data: [DONE]\n\n";
  for (size_t piece : {stream.size(), size_t{1}, size_t{3}, size_t{7}}) {
    SseParser counter(nullptr);
    for (size_t i = 0; i < stream.size(); i += piece) {
      EXPECT_TRUE(counter.feed(std::string_view(stream).substr(i, piece)));
    }
    EXPECT_EQ(counter.eventCount(), parseInPieces(stream, piece).size()) << "piece=" << piece;
    EXPECT_EQ(counter.eventCount(), 4u) << "piece=" << piece;
  }
  SseParser limited(nullptr, 1024);
  EXPECT_TRUE(limited.feed("data: " + std::string(600, 'x') + "\n"));
  EXPECT_FALSE(limited.feed("data: " + std::string(600, 'x') + "\n"));
  EXPECT_TRUE(limited.failed());
}

}  // namespace
}  // namespace fwd::common::sse
