#include "dataplane/proxy/body_inspect.h"

#include <gtest/gtest.h>

namespace fwd::dataplane::proxy {
namespace {

struct Result {
  bool ok;
  BodyInfo info;
  BodyError error;
};

Result inspect(std::string body) {
  simdjson::ondemand::parser parser;
  Result r;
  r.ok = inspectJsonBody(parser, body, r.info, r.error);
  return r;
}

TEST(BodyInspectTest, ReadsModelAndStreamWhereverTheyAre) {
  // model/stream are found in any field order, with escapes, and the rest is skipped.
  auto r = inspect(R"({"messages":[{"role":"user","content":"hi \"x\" \u00e9"}],"stream":true,
                       "model":"gpt-4o\/mini","temperature":0.5,"n":null})");
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_TRUE(r.info.has_model);
  EXPECT_EQ(r.info.model, "gpt-4o/mini");
  EXPECT_TRUE(r.info.stream);
  auto none = inspect(R"({"input":"x","stream":null})");
  ASSERT_TRUE(none.ok);
  EXPECT_FALSE(none.info.has_model);
  EXPECT_FALSE(none.info.stream);
}

TEST(BodyInspectTest, RejectsMalformedJsonAnywhereInTheDocument) {
  // An error deep inside an unneeded field is still caught: the body is validated whole.
  for (const char* bad : {
           R"({"model":"gpt-4o",)",
           R"({"model":"gpt-4o","messages":[{"role":"user","content":"x"]})",
           R"({"model":"gpt-4o","temperature":1.2.3})",
           R"({"model":"gpt-4o","x":tru})",
           R"({"model":"gpt-4o"} trailing)",
           R"({"model":"gpt-4o"}{"model":"b"})",
           "{\"model\":\"\xff\xfe\"}",
           R"([1,2,3])",
           R"("just a string")",
       }) {
    auto r = inspect(bad);
    EXPECT_FALSE(r.ok) << bad;
    EXPECT_FALSE(r.error.message.empty()) << bad;
  }
}

TEST(BodyInspectTest, WrongTypesNameTheParameter) {
  // A non-string model or non-boolean stream is a 400 that names the field.
  for (const char* body :
       {R"({"model":42})", R"({"model":1})", R"({"model":null})", R"({"model":["a"]})"}) {
    auto m = inspect(body);
    EXPECT_FALSE(m.ok) << body;
    EXPECT_EQ(m.error.param, "model") << body << " " << m.error.message;
  }
  auto s = inspect(R"({"model":"x","stream":"yes"})");
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.error.param, "stream");
}

TEST(BodyInspectTest, RecognisesJsonContentTypes) {
  // Parameters and case do not matter; other media types are not JSON.
  EXPECT_TRUE(isJsonContentType("application/json"));
  EXPECT_TRUE(isJsonContentType("Application/JSON; charset=utf-8"));
  EXPECT_FALSE(isJsonContentType("multipart/form-data; boundary=x"));
  EXPECT_FALSE(isJsonContentType("application/jsonl"));
  EXPECT_FALSE(isJsonContentType(""));
}

}  // namespace
}  // namespace fwd::dataplane::proxy
