// How a record names a request's outcome, and which requests it calls multimodal.
#include "dataplane/records/record_policy.h"

#include <gtest/gtest.h>

namespace fwd::dataplane::records {
namespace record_policy_test {

TEST(RecordOutcomeTest, EachEndingHasItsOutcome) {
  EXPECT_EQ(recordOutcome(200, "", true), fwd::v1::OUTCOME_OK);
  EXPECT_EQ(recordOutcome(404, "model_not_found", false), fwd::v1::OUTCOME_ERROR);
  EXPECT_EQ(recordOutcome(500, "", true), fwd::v1::OUTCOME_ERROR);  // the upstream's own 500
  EXPECT_EQ(recordOutcome(502, "upstream_error", false), fwd::v1::OUTCOME_ERROR);
  EXPECT_EQ(recordOutcome(502, "mid_stream", true), fwd::v1::OUTCOME_PARTIAL);
  EXPECT_EQ(recordOutcome(502, "idle_timeout", true), fwd::v1::OUTCOME_PARTIAL);
  EXPECT_EQ(recordOutcome(499, "", true), fwd::v1::OUTCOME_CLIENT_CANCELLED);
  EXPECT_EQ(recordOutcome(499, "", false), fwd::v1::OUTCOME_CLIENT_CANCELLED);
  EXPECT_EQ(recordOutcome(429, "rate_limit_exceeded", false), fwd::v1::OUTCOME_RATE_LIMITED);
  EXPECT_EQ(recordOutcome(429, "insufficient_quota", false), fwd::v1::OUTCOME_RATE_LIMITED);
  EXPECT_EQ(recordOutcome(503, "limits_unavailable", false), fwd::v1::OUTCOME_RATE_LIMITED);
  EXPECT_EQ(recordOutcome(429, "upstreams_cooling", false), fwd::v1::OUTCOME_ERROR);
}

TEST(RecordOutcomeTest, ImagesAudioAndFilesAreMultimodalAndTextIsNot) {
  EXPECT_TRUE(isMultimodal("/v1/chat/completions",
                           R"({"messages":[{"role":"user","content":[{"type":"image_url",)"
                           R"("image_url":{"url":"data:image/png;base64,AA"}}]}]})"));
  EXPECT_TRUE(isMultimodal("/v1/responses",
                           R"({"input":[{"content":[{"type":"input_image","image_url":"x"}]}]})"));
  EXPECT_TRUE(
      isMultimodal("/v1/chat/completions",
                   R"({"messages":[{"content":[{"type":"input_audio","input_audio":{}}]}]})"));
  EXPECT_TRUE(isMultimodal("/v1/audio/transcriptions", ""));
  EXPECT_TRUE(isMultimodal("/v1/images/generations", R"({"prompt":"a cat"})"));
  EXPECT_FALSE(isMultimodal("/v1/chat/completions",
                            R"({"messages":[{"role":"user","content":"describe image_url"}]})"));
  EXPECT_FALSE(isMultimodal("/v1/responses", R"({"input":"hi","input_text":"x"})"));
}

}  // namespace record_policy_test
}  // namespace fwd::dataplane::records
