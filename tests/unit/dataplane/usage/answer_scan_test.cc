// The answer scan: usage and tool calls read from the end of an answer as its bytes pass, in
// whatever pieces they come, without mistaking a string's text for a key.
#include "dataplane/usage/answer_scan.h"

#include <gtest/gtest.h>

#include <vector>

namespace fwd::dataplane::usage {
namespace answer_scan_test {

struct Scanned {
  std::string usage;
  bool tool_calls = false;
  std::uint64_t bytes = 0;
};

Scanned scan(const std::vector<std::string_view>& pieces) {
  std::string tail;
  AnswerScanner s(tail);
  for (std::string_view p : pieces) {
    s.feed(p);
  }
  AnswerScanner::End end = s.end();
  return {std::string(end.usage), end.tool_calls, s.bytes()};
}

// Feeds `text` whole, split at every byte, and one byte at a time: every way must agree.
std::vector<Scanned> scanAllWays(std::string_view text) {
  std::vector<Scanned> out{scan({text})};
  for (size_t cut = 1; cut < text.size(); ++cut) {
    out.push_back(scan({text.substr(0, cut), text.substr(cut)}));
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < text.size(); ++i) {
    bytes.push_back(text.substr(i, 1));
  }
  out.push_back(scan(bytes));
  return out;
}

TEST(AnswerScanTest, AChatCompletionsUsageIsFoundPastContentThatLooksLikeIt) {
  std::string answer =
      R"({"id":"x","choices":[{"message":{"role":"assistant","content":"say \"usage\": {\"prompt_tokens\":99}"}}],)"
      R"("usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,)"
      R"("completion_tokens_details":{"reasoning_tokens":2}},"system_fingerprint":"fp"})";
  for (const Scanned& s : scanAllWays(answer)) {
    ASSERT_EQ(s.usage, R"({"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,)"
                       R"("completion_tokens_details":{"reasoning_tokens":2}})");
    EXPECT_FALSE(s.tool_calls);
    EXPECT_EQ(s.bytes, answer.size());
  }
  simdjson::ondemand::parser parser;
  std::string json = scan({answer}).usage;
  Usage u;
  ASSERT_TRUE(readUsageObject(parser, json, u));
  EXPECT_EQ(u.prompt, 10u);
  EXPECT_EQ(u.completion, 3u);
  EXPECT_EQ(u.reasoning, 2u);
  EXPECT_EQ(u.total, 13u);
  EXPECT_TRUE(u.reported);
}

TEST(AnswerScanTest, AStreamsLastUsageCountsAndNullsDoNot) {
  std::string stream =
      "data: "
      "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}\n\n"
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
      "\"prompt_tokens_details\":{\"cached_tokens\":4}}}\n\n"
      "data: [DONE]\n\n";
  for (const Scanned& s : scanAllWays(stream)) {
    ASSERT_EQ(
        s.usage,
        R"({"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}})");
  }
  simdjson::ondemand::parser parser;
  std::string json = scan({stream}).usage;
  Usage u;
  ASSERT_TRUE(readUsageObject(parser, json, u));
  EXPECT_EQ(u.cached, 4u);
  EXPECT_EQ(u.total, 7u);
  // Without the usage chunk there is none.
  std::string none = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n";
  EXPECT_TRUE(scan({none}).usage.empty());
}

TEST(AnswerScanTest, ToolCallsAreSeenInAnswersAndStreamsButNotWhenEmpty) {
  std::string answer =
      R"({"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function",)"
      R"("function":{"name":"get","arguments":"{\"city\":\"Paris\"}"}}]}}]})";
  for (const Scanned& s : scanAllWays(answer)) {
    EXPECT_TRUE(s.tool_calls);
  }
  std::string finish =
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
  EXPECT_TRUE(scan({finish}).tool_calls);
  std::string empty = R"({"choices":[{"message":{"content":"hi","tool_calls": [ ]}}]})";
  for (const Scanned& s : scanAllWays(empty)) {
    EXPECT_FALSE(s.tool_calls);
  }
  std::string responses = R"({"output":[{"type":"function_call","name":"get","arguments":"{}"}]})";
  EXPECT_TRUE(scan({responses}).tool_calls);
  std::string mention = R"({"choices":[{"message":{"content":"no \"tool_calls\": [1]"}}]})";
  for (const Scanned& s : scanAllWays(mention)) {
    EXPECT_FALSE(s.tool_calls);
  }
}

TEST(AnswerScanTest, TheResponsesApisNestedUsageIsRead) {
  std::string event =
      "event: response.completed\n"
      "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":"
      "{\"input_tokens\":12,\"input_tokens_details\":{\"cached_tokens\":2},\"output_tokens\":7,"
      "\"output_tokens_details\":{\"reasoning_tokens\":3},\"total_tokens\":19},\"user\":null}}\n\n";
  std::string json = scan({event}).usage;
  simdjson::ondemand::parser parser;
  Usage u;
  ASSERT_TRUE(readUsageObject(parser, json, u));
  EXPECT_EQ(u.prompt, 12u);
  EXPECT_EQ(u.cached, 2u);
  EXPECT_EQ(u.completion, 7u);
  EXPECT_EQ(u.reasoning, 3u);
  EXPECT_EQ(u.total, 19u);
}

TEST(AnswerScanTest, OnlyTheEndOfALongAnswerIsKeptAndItsUsageStillRead) {
  std::string image = R"({"data":[{"b64_json":")" + std::string(1 << 20, 'A') +
                      R"("}],"usage":{"input_tokens":50,"output_tokens":4000}})";
  std::string tail;
  AnswerScanner s(tail);
  for (size_t at = 0; at < image.size(); at += 1000) {
    s.feed(std::string_view(image).substr(at, 1000));
  }
  EXPECT_EQ(s.end().usage, R"({"input_tokens":50,"output_tokens":4000})");
  EXPECT_EQ(s.bytes(), image.size());
  EXPECT_LE(tail.size(), 2 * AnswerScanner::kTailBytes);
  // A usage object cut by the tail's start is not read, nor one the answer never closed.
  std::string cut = R"({"usage":{"prompt_tokens":1,"x":")" + std::string(3000, 'x') + R"("}})";
  EXPECT_TRUE(scan({cut}).usage.empty());
  EXPECT_TRUE(scan({R"({"usage":{"prompt_tokens":1)"}).usage.empty());
}

TEST(AnswerScanTest, TheConnectionsTailIsReusedEmptyForEachAnswer) {
  std::string tail;
  {
    AnswerScanner first(tail);
    first.feed(R"({"usage":{"prompt_tokens":1}})");
  }
  AnswerScanner second(tail);
  second.feed(R"({"choices":[]})");
  EXPECT_TRUE(second.end().usage.empty());
}

TEST(AnswerScanTest, AUsageObjectWithoutCountsIsNotUsage) {
  simdjson::ondemand::parser parser;
  for (std::string json : {std::string("{}"), std::string(R"({"note":"x"})"), std::string("[1]"),
                           std::string("{bad")}) {
    Usage u;
    EXPECT_FALSE(readUsageObject(parser, json, u)) << json;
    EXPECT_FALSE(u.reported);
  }
}

}  // namespace answer_scan_test
}  // namespace fwd::dataplane::usage
