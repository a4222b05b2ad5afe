// Reading an answer's usage, a request's max_tokens and stream_options, and the usage-only
// chunk of a stream, without building trees.
#include "dataplane/usage/usage.h"

#include <gtest/gtest.h>

#include "dataplane/usage/prices.h"

namespace fwd::dataplane::usage {
namespace {

simdjson::ondemand::parser parser_;

TEST(UsageTest, AnAnswersUsageIsReadPastItsChoices) {
  std::string answer = R"({"id":"x","choices":[{"message":{"content":"\"usage\": not this"}}],)"
                       R"("usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,)"
                       R"("prompt_tokens_details":{"cached_tokens":0}}})";
  Usage u;
  u.content_events = 4;
  ASSERT_TRUE(readUsage(parser_, answer, u));
  EXPECT_TRUE(u.reported);
  EXPECT_EQ(u.prompt, 10u);
  EXPECT_EQ(u.completion, 3u);
  EXPECT_EQ(u.total, 13u);
  EXPECT_EQ(u.content_events, 4u);  // kept
  EXPECT_EQ(u.cached, 0u);
  std::string cached = R"({"usage":{"prompt_tokens_details":{"cached_tokens":1024},)"
                       R"("prompt_tokens":2000,"completion_tokens":10}})";
  ASSERT_TRUE(readUsage(parser_, cached, u));
  EXPECT_EQ(u.cached, 1024u);
  EXPECT_EQ(u.total, 2010u);
  // Embeddings report no completion; a missing total is the sum.
  std::string embedding = R"({"data":[],"usage":{"prompt_tokens":8}})";
  Usage e;
  ASSERT_TRUE(readUsage(parser_, embedding, e));
  EXPECT_EQ(e.total, 8u);
  for (std::string none : {std::string(R"({"choices":[],"usage":null})"),
                           std::string(R"({"choices":[]})"), std::string("not json")}) {
    Usage n;
    EXPECT_FALSE(readUsage(parser_, none, n)) << none;
    EXPECT_FALSE(n.reported);
  }
}

TEST(UsageTest, TheUsageOnlyChunkIsTheOneWithoutChoices) {
  std::string usage_chunk =
      R"({"id":"c","object":"chat.completion.chunk","choices":[],)"
      R"("usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})";
  EXPECT_TRUE(isUsageOnlyEvent(parser_, usage_chunk));
  std::string content = R"({"choices":[{"delta":{"content":"hi"}}],"usage":null})";
  EXPECT_FALSE(isUsageOnlyEvent(parser_, content));
  std::string both = R"({"choices":[{"delta":{}}],"usage":{"total_tokens":1}})";
  EXPECT_FALSE(isUsageOnlyEvent(parser_, both));
}

TEST(UsageTest, ContentChunksAreTheEstimatesUnit) {
  EXPECT_TRUE(carriesContent(R"({"choices":[{"delta":{"content":"hi"}}]})"));
  EXPECT_TRUE(carriesContent(R"({"choices":[{"text": "x"}]})"));
  EXPECT_FALSE(carriesContent(R"({"choices":[{"delta":{"role":"assistant","content":""}}]})"));
  EXPECT_FALSE(carriesContent(R"({"choices":[{"delta":{"content":null}}]})"));
  EXPECT_EQ(estimateTokens(0), 0u);
  EXPECT_EQ(estimateTokens(9), 3u);
}

TEST(UsageTest, ARequestsAskIsReadFromItsBody) {
  std::string body =
      R"({"model":"m","max_completion_tokens":300,"messages":[{"content":"max_tokens"}],)"
      R"("stream_options":{"x":1,"include_usage":true},"stream":true})";
  Ask ask;
  ASSERT_TRUE(readAsk(parser_, body, ask));
  EXPECT_EQ(ask.max_tokens, 300u);
  EXPECT_TRUE(ask.include_usage);
  std::string plain = R"({"model":"m","max_tokens":null})";
  Ask none;
  ASSERT_TRUE(readAsk(parser_, plain, none));
  EXPECT_EQ(none.max_tokens, 0u);
  EXPECT_FALSE(none.include_usage);
  std::string bad = "[1]";
  EXPECT_FALSE(readAsk(parser_, bad, none));
}

TEST(PriceTableTest, AModelTakesItsOwnPriceElseTheLongestMatchingPattern) {
  google::protobuf::RepeatedPtrField<fwd::v1::Price> prices;
  auto add = [&](const char* model, std::uint64_t in, std::uint64_t out) {
    fwd::v1::Price* p = prices.Add();
    p->set_model(model);
    p->set_input_usd_micros(in);
    p->set_output_usd_micros(out);
    return p;
  };
  add("gpt-4o", 2'500'000, 10'000'000)->set_cached_input_usd_micros(1'250'000);
  add("gpt-4o*", 1, 1);
  add("gpt-4o-mini*", 150'000, 600'000);
  add("*", 7, 7);
  PriceTable table(prices);
  ASSERT_NE(table.find("gpt-4o"), nullptr);
  EXPECT_EQ(table.find("gpt-4o")->input, 2'500'000u);
  EXPECT_EQ(table.find("gpt-4o-mini-2024-07-18")->input, 150'000u);  // longer pattern wins
  EXPECT_EQ(table.find("gpt-4o-2024-08-06")->input, 1u);
  EXPECT_EQ(table.find("llama3")->input, 7u);
  EXPECT_EQ(table.find("gpt-4o-mini-2024-07-18")->cached_input, 150'000u);  // input's by default
  EXPECT_EQ(PriceTable().find("gpt-4o"), nullptr);                          // unpriced

  // 1,000 prompt tokens (400 cached) and 200 completion tokens of gpt-4o:
  // 600 × $2.50 + 400 × $1.25 + 200 × $10 per 1M = $0.0015 + $0.0005 + $0.002 = $0.004.
  Usage u;
  u.prompt = 1000;
  u.cached = 400;
  u.completion = 200;
  EXPECT_EQ(costNanoUsd(u, *table.find("gpt-4o")), 4'000'000u);
  // One token at $0.000001 per 1M is a millionth of a nano-dollar: rounded up to one.
  Usage one;
  one.completion = 1;
  EXPECT_EQ(costNanoUsd(one, Price{1, 1, 1}), 1u);
}

}  // namespace
}  // namespace fwd::dataplane::usage
