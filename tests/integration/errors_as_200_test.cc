// Errors as 200 with the real binaries: per key and as the global setting, for fwd's own errors
// (401, 403, a 502 after an upstream 500), an upstream's relayed error and a stream cut mid-way.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

class ErrorsAs200Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    auto r = cluster_.fwdctl({"upstream", "add", "local", "--base-url",
                              cluster_.upstream("up1").baseUrl(), "--model", "gpt-*"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    legacy_ =
        cluster_.fwdctlJson({"key", "create", "legacy", "--model", "gpt-4o", "--errors-as-200"})
            .value("key", "");
    plain_ = cluster_.createKey("plain", {"gpt-4o"});
    ASSERT_FALSE(legacy_.empty());
    ASSERT_TRUE(cluster_.waitInSync());
  }

  Response chat(const std::string& key, const std::string& model, Headers headers = {}) {
    return cluster_.call("dp1", "POST", "/v1/chat/completions", key,
                         R"({"model":")" + model + R"(","messages":[]})", headers);
  }

  // The answer is a 200 carrying the OpenAI error `code` and the real status in x-fwd-status.
  static ::testing::AssertionResult errorAs200(const Response& r, int real_status,
                                               const std::string& code) {
    if (r.status != 200) {
      return ::testing::AssertionFailure() << "status " << r.status << ": " << r.body;
    }
    if (r.header("x-fwd-status") != std::to_string(real_status)) {
      return ::testing::AssertionFailure()
             << "x-fwd-status \"" << r.header("x-fwd-status") << "\", wanted " << real_status;
    }
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) {
      return ::testing::AssertionFailure() << "not an OpenAI error body: " << r.body;
    }
    if (!code.empty() && body["error"].value("code", "") != code) {
      return ::testing::AssertionFailure()
             << "code " << body["error"]["code"] << ", wanted " << code;
    }
    return ::testing::AssertionSuccess();
  }

  FwdCluster cluster_;
  std::string legacy_;
  std::string plain_;
};

TEST_F(ErrorsAs200Test, AKeyWithErrorsAs200GetsItsErrorsAs200AndOthersDoNot) {
  // 403 (model not allowed), fwd's 502 after an upstream 500, and an upstream 404 relayed: each
  // a 200 with x-fwd-status for the legacy key, the real status for the plain one.
  EXPECT_TRUE(errorAs200(chat(legacy_, "gpt-3.5"), 403, "model_not_allowed"));
  EXPECT_EQ(chat(plain_, "gpt-3.5").status, 403);

  Headers fail = {{"x-fake-status", "500"}};
  EXPECT_TRUE(errorAs200(chat(legacy_, "gpt-4o", fail), 502, "upstream_error"));
  EXPECT_EQ(chat(plain_, "gpt-4o", fail).status, 502);

  Headers missing = {{"x-fake-status", "404"}};
  EXPECT_TRUE(errorAs200(chat(legacy_, "gpt-4o", missing), 404, ""));
  Response plain_missing = chat(plain_, "gpt-4o", missing);
  EXPECT_EQ(plain_missing.status, 404);
  EXPECT_EQ(plain_missing.header("x-fwd-status"), "");

  // Success is untouched; a 401 is not the key's to decide (no key is known yet).
  Response ok = chat(legacy_, "gpt-4o");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.header("x-fwd-status"), "");
  EXPECT_EQ(chat("fwd-wrong", "gpt-4o").status, 401);

  // Metrics count the real statuses.
  Response metrics = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("status=\"403\""), std::string::npos);
  EXPECT_NE(metrics.body.find("status=\"502\""), std::string::npos);
}

TEST_F(ErrorsAs200Test, TheGlobalSettingCoversEveryKeyAndErrorsBeforeAKeyIsKnown) {
  // settings set errors_as_200 true: a 401 without a valid key, and the plain key's 403, are
  // 200s; settings list shows the value; setting it false restores the real statuses.
  auto r = cluster_.fwdctl({"settings", "set", "errors_as_200", "true"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_TRUE(errorAs200(chat("fwd-wrong", "gpt-4o"), 401, "invalid_api_key"));
  EXPECT_TRUE(errorAs200(chat(plain_, "gpt-3.5"), 403, "model_not_allowed"));
  nlohmann::json listed = cluster_.fwdctlJson({"settings", "list"});
  ASSERT_TRUE(listed["settings"].is_array()) << listed.dump();
  EXPECT_EQ(listed["settings"][0]["name"], "errors_as_200");
  EXPECT_EQ(listed["settings"][0]["value"], "true");

  r = cluster_.fwdctl({"settings", "set", "errors_as_200", "false"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat("fwd-wrong", "gpt-4o").status, 401);

  r = cluster_.fwdctl({"settings", "set", "errors_as_201", "true"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("no setting named \"errors_as_201\"; the settings are: "
                               "errors_as_200"),
            std::string::npos)
      << r.stderr_text;
  r = cluster_.fwdctl({"settings", "set", "errors_as_200", "maybe"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("\"maybe\" is not true or false"), std::string::npos)
      << r.stderr_text;
}

TEST_F(ErrorsAs200Test, AStreamCutMidWayKeepsItsStatusAndEndsWithAnErrorEvent) {
  // The stream's 200 went out before the cut: it ends with fwd's error event, as without the
  // setting, and carries no x-fwd-status.
  Response r = cluster_.call("dp1", "POST", "/v1/chat/completions", legacy_,
                             R"({"model":"gpt-4o","stream":true,"messages":[]})",
                             {{"x-fake-cut-after", "2"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-fwd-status"), "");
  EXPECT_NE(r.body.find("data: {\"error\":"), std::string::npos) << r.body;
}

TEST_F(ErrorsAs200Test, TurningItOffForAKeyRestoresTheRealStatuses) {
  // key update --errors-as-200=false: the key's next error has its real status again.
  auto r = cluster_.fwdctl({"key", "update", "legacy", "--errors-as-200=false"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat(legacy_, "gpt-3.5").status, 403);
  nlohmann::json got = cluster_.fwdctlJson({"key", "get", "legacy"});
  EXPECT_EQ(got["errors_as_200"], false) << got.dump();
}

}  // namespace
}  // namespace fwd::harness
