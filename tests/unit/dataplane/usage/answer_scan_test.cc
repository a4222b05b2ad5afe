// The answer scan: usage, tool calls and content read from an answer's bytes as they pass, in
// whatever pieces they come, without mistaking a string's text for a key.
#include "dataplane/usage/answer_scan.h"

#include <gtest/gtest.h>

#include <vector>

namespace fwd::dataplane::usage {
namespace answer_scan_test {

// Feeds `text` whole, then split at every byte, then one byte at a time: every way must agree.
std::vector<AnswerScanner> scanAllWays(std::string_view text) {
  std::vector<AnswerScanner> out;
  AnswerScanner whole;
  whole.feed(text);
  out.push_back(whole);
  for (size_t cut = 1; cut < text.size(); ++cut) {
    AnswerScanner split;
    split.feed(text.substr(0, cut));
    split.feed(text.substr(cut));
    out.push_back(std::move(split));
  }
  AnswerScanner bytes;
  for (char c : text) {
    bytes.feed(std::string_view(&c, 1));
  }
  out.push_back(std::move(bytes));
  return out;
}

TEST(AnswerScanTest, AChatCompletionsUsageIsFoundPastContentThatLooksLikeIt) {
  std::string answer =
      R"({"id":"x","choices":[{"message":{"role":"assistant","content":"say \"usage\": {\"prompt_tokens\":99}"}}],)"
      R"("usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,)"
      R"("completion_tokens_details":{"reasoning_tokens":2}},"system_fingerprint":"fp"})";
  for (const AnswerScanner& s : scanAllWays(answer)) {
    ASSERT_EQ(s.usageJson(), R"({"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,)"
                             R"("completion_tokens_details":{"reasoning_tokens":2}})");
    EXPECT_FALSE(s.toolCalls());
    EXPECT_EQ(s.contentStrings(), 1u);
    EXPECT_EQ(s.bytes(), answer.size());
  }
  simdjson::ondemand::parser parser;
  std::string json(scanAllWays(answer)[0].usageJson());
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
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}],\"usage\":null}\n\n"
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
      "\"prompt_tokens_details\":{\"cached_tokens\":4}}}\n\n"
      "data: [DONE]\n\n";
  for (const AnswerScanner& s : scanAllWays(stream)) {
    ASSERT_EQ(
        s.usageJson(),
        R"({"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}})");
    EXPECT_EQ(s.contentStrings(), 2u);  // the empty first content is no content
    EXPECT_EQ(s.contentBytes(), 5u);
  }
  simdjson::ondemand::parser parser;
  std::string json(scanAllWays(stream)[0].usageJson());
  Usage u;
  ASSERT_TRUE(readUsageObject(parser, json, u));
  EXPECT_EQ(u.cached, 4u);
  EXPECT_EQ(u.total, 7u);
}

TEST(AnswerScanTest, AStreamWithoutUsageCountsItsContentChunks) {
  std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"think\"}}]}\n\n"
      "data: {\"choices\":[{\"text\": \"b\\\\\"}]}\n\n"
      "data: [DONE]\n\n";
  for (const AnswerScanner& s : scanAllWays(stream)) {
    EXPECT_TRUE(s.usageJson().empty());
    EXPECT_EQ(s.contentStrings(), 3u);
  }
}

TEST(AnswerScanTest, ToolCallsAreSeenInAnswersAndStreamsButNotWhenEmpty) {
  std::string answer =
      R"({"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function",)"
      R"("function":{"name":"get","arguments":"{\"city\":\"Paris\"}"}}]}}]})";
  for (const AnswerScanner& s : scanAllWays(answer)) {
    EXPECT_TRUE(s.toolCalls());
  }
  std::string empty = R"({"choices":[{"message":{"content":"hi","tool_calls": [ ]}}]})";
  for (const AnswerScanner& s : scanAllWays(empty)) {
    EXPECT_FALSE(s.toolCalls());
  }
  std::string responses = R"({"output":[{"type":"function_call","name":"get","arguments":"{}"}]})";
  for (const AnswerScanner& s : scanAllWays(responses)) {
    EXPECT_TRUE(s.toolCalls());
  }
  std::string mention = R"({"choices":[{"message":{"content":"no \"tool_calls\": [1]"}}]})";
  for (const AnswerScanner& s : scanAllWays(mention)) {
    EXPECT_FALSE(s.toolCalls());
  }
}

TEST(AnswerScanTest, TheResponsesApisNestedUsageIsRead) {
  std::string event =
      "event: response.completed\n"
      "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":"
      "{\"input_tokens\":12,\"input_tokens_details\":{\"cached_tokens\":2},\"output_tokens\":7,"
      "\"output_tokens_details\":{\"reasoning_tokens\":3},\"total_tokens\":19}}}\n\n";
  std::string json(scanAllWays(event).back().usageJson());
  simdjson::ondemand::parser parser;
  Usage u;
  ASSERT_TRUE(readUsageObject(parser, json, u));
  EXPECT_EQ(u.prompt, 12u);
  EXPECT_EQ(u.cached, 2u);
  EXPECT_EQ(u.completion, 7u);
  EXPECT_EQ(u.reasoning, 3u);
  EXPECT_EQ(u.total, 19u);
}

TEST(AnswerScanTest, AStrayQuoteInStreamFramingIsForgottenAtTheLineEnd) {
  std::string stream =
      ": a comment with a \"quote\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n";
  for (const AnswerScanner& s : scanAllWays(stream)) {
    EXPECT_EQ(s.usageJson(), R"({"prompt_tokens":1,"completion_tokens":1})");
  }
}

TEST(AnswerScanTest, AHugeStringIsSkippedAndAnOversizedUsageIsNotKept) {
  std::string image = R"({"data":[{"b64_json":")" + std::string(1 << 20, 'A') +
                      R"("}],"usage":{"input_tokens":50,"output_tokens":4000}})";
  AnswerScanner s;
  for (size_t at = 0; at < image.size(); at += 16384) {
    s.feed(std::string_view(image).substr(at, 16384));
  }
  EXPECT_EQ(s.usageJson(), R"({"input_tokens":50,"output_tokens":4000})");
  EXPECT_EQ(s.contentStrings(), 0u);
  std::string big = R"({"usage":{"x":")" + std::string(AnswerScanner::kMaxUsageBytes, 'x') +
                    R"("},"content":"after"})";
  AnswerScanner b;
  b.feed(big);
  EXPECT_TRUE(b.usageJson().empty());
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
